//! Deterministic synthetic completions.
//!
//! A simulated model answers with plausible-looking words whose length, in estimated tokens
//! ([`bedrock_lb_core::tokens::estimate_tokens`], the estimate the balancer also uses), is chosen
//! from a seed. The seed is a stable hash (FNV-1a) of the scenario seed, the model id and the
//! request's text, so the same request always gets the same answer, across runs and machines.

use bedrock_lb_core::tokens::estimate_tokens;

use crate::wire::StopReason;

/// Shortest completion the simulator chooses, in tokens, before the `maxTokens` cap.
pub const MIN_TARGET_TOKENS: u32 = 20;
/// Longest completion the simulator chooses, in tokens, before the `maxTokens` cap.
pub const MAX_TARGET_TOKENS: u32 = 300;

/// What a simulated model generated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generation {
    pub text: String,
    /// `estimate_tokens(text)`, exactly.
    pub output_tokens: u32,
    pub stop_reason: StopReason,
}

/// What a completion is generated from.
#[derive(Debug, Clone, Copy)]
pub struct GenerationInput<'a> {
    /// The scenario's seed.
    pub seed: u64,
    /// The model id as the caller named it.
    pub model_id: &'a str,
    /// Every system and message text, in order.
    pub texts: &'a [&'a str],
    /// The cap on output tokens (at least 1).
    pub max_tokens: u32,
    /// Sequences that end the completion where they first appear.
    pub stop_sequences: &'a [String],
}

/// A 64-bit FNV-1a hash: tiny, and stable across Rust versions, unlike `DefaultHasher`.
#[derive(Debug, Clone, Copy)]
pub struct Fnv1a(u64);

impl Fnv1a {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;

    /// A hash of nothing yet.
    pub fn new() -> Self {
        Self(Self::OFFSET_BASIS)
    }

    /// Feeds `bytes` into the hash.
    pub fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(Self::PRIME);
        }
    }

    /// The hash so far.
    pub fn finish(self) -> u64 {
        self.0
    }
}

impl Default for Fnv1a {
    fn default() -> Self {
        Self::new()
    }
}

/// Generates the completion for `input`: the same input always gives the same completion.
pub fn generate(input: &GenerationInput<'_>) -> Generation {
    let mut hash = Fnv1a::new();
    hash.write(&input.seed.to_le_bytes());
    hash.write(input.model_id.as_bytes());
    for text in input.texts {
        // A separator, so that ["ab", "c"] and ["a", "bc"] seed differently.
        hash.write(&[0xff]);
        hash.write(text.as_bytes());
    }
    let mut rng = fastrand::Rng::with_seed(hash.finish());
    let target = rng.u32(MIN_TARGET_TOKENS..=MAX_TARGET_TOKENS);
    let cap = input.max_tokens.max(1);
    let limit = target.min(cap);
    let stop_reason = if cap < target {
        StopReason::MaxTokens
    } else {
        StopReason::EndTurn
    };
    let text = words_up_to(&mut rng, limit, stop_reason == StopReason::EndTurn);
    let (text, stop_reason) = match cut_at_stop_sequence(&text, input.stop_sequences) {
        Some(cut) => (cut.to_owned(), StopReason::StopSequence),
        None => (text, stop_reason),
    };
    Generation {
        output_tokens: estimate_tokens(&text),
        text,
        stop_reason,
    }
}

/// Words from [`WORDS`], in sentences, up to `limit` estimated tokens. A natural end stops at
/// the last whole word that fits and closes the sentence; otherwise (the model ran into
/// `max_tokens`) the text is exactly `limit` tokens long, the last word cut short, as a real
/// completion that hits the cap is cut mid-sentence.
fn words_up_to(rng: &mut fastrand::Rng, limit: u32, natural_end: bool) -> String {
    let max_chars = usize::try_from(limit)
        .unwrap_or(usize::MAX)
        .saturating_mul(4);
    let mut text = String::with_capacity(max_chars);
    let mut words_left_in_sentence = 0;
    while estimate_tokens(&text) < limit || text.is_empty() {
        let mut piece = String::new();
        if !text.is_empty() {
            piece.push(' ');
        }
        let word = WORDS[rng.usize(..WORDS.len())];
        if words_left_in_sentence == 0 {
            words_left_in_sentence = rng.usize(6..=14);
            let mut chars = word.chars();
            if let Some(first) = chars.next() {
                piece.extend(first.to_uppercase());
                piece.push_str(chars.as_str());
            }
        } else {
            piece.push_str(word);
        }
        words_left_in_sentence -= 1;
        if words_left_in_sentence == 0 {
            piece.push('.');
        }
        // Words are ASCII, so characters are bytes.
        let room = max_chars.saturating_sub(text.len());
        // A natural end keeps one character for the closing period.
        let reserve = usize::from(natural_end);
        if piece.len() + reserve > room {
            if !natural_end || text.is_empty() {
                text.push_str(&piece[..room.min(piece.len())]);
            }
            break;
        }
        text.push_str(&piece);
    }
    // Close the sentence; past the loop's last word there is room for the period unless the
    // text filled its budget exactly.
    if natural_end && !text.ends_with('.') {
        if text.len() >= max_chars
            && let Some(last_space) = text.rfind(' ')
        {
            // No room for the period: end the sentence one word earlier.
            text.truncate(last_space);
        }
        text.push('.');
    }
    text
}

/// The text before the earliest stop sequence in it, without trailing spaces.
fn cut_at_stop_sequence<'t>(text: &'t str, stop_sequences: &[String]) -> Option<&'t str> {
    stop_sequences
        .iter()
        .filter(|s| !s.is_empty())
        .filter_map(|s| text.find(s.as_str()))
        .min()
        .map(|at| text[..at].trim_end())
}

/// The vocabulary of synthetic completions: common, ASCII-only English words.
const WORDS: &[&str] = &[
    "the",
    "quota",
    "region",
    "model",
    "token",
    "request",
    "answer",
    "system",
    "balance",
    "load",
    "queue",
    "worker",
    "minute",
    "window",
    "limit",
    "throughput",
    "latency",
    "profile",
    "stream",
    "result",
    "batch",
    "prompt",
    "service",
    "route",
    "signal",
    "budget",
    "capacity",
    "share",
    "and",
    "of",
    "to",
    "in",
    "for",
    "with",
    "on",
    "as",
    "by",
    "from",
    "at",
    "is",
    "was",
    "are",
    "will",
    "can",
    "should",
    "might",
    "every",
    "each",
    "many",
    "few",
    "more",
    "less",
    "some",
    "quick",
    "steady",
    "bright",
    "careful",
    "simple",
    "clear",
    "early",
    "late",
    "large",
    "small",
    "river",
    "mountain",
    "garden",
    "harbor",
    "library",
    "market",
    "station",
    "village",
    "bridge",
    "reads",
    "writes",
    "builds",
    "keeps",
    "moves",
    "waits",
    "finds",
    "holds",
    "turns",
    "brings",
    "because",
    "while",
    "after",
    "before",
    "although",
    "therefore",
    "meanwhile",
    "instead",
    "data",
    "number",
    "letter",
    "story",
    "idea",
    "question",
    "reason",
    "method",
    "pattern",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn input<'a>(texts: &'a [&'a str], max_tokens: u32) -> GenerationInput<'a> {
        GenerationInput {
            seed: 7,
            model_id: "m:0",
            texts,
            max_tokens,
            stop_sequences: &[],
        }
    }

    #[test]
    fn fnv1a_matches_the_reference_vectors() {
        let hash = |s: &str| {
            let mut h = Fnv1a::new();
            h.write(s.as_bytes());
            h.finish()
        };
        assert_eq!(hash(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(hash("a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(hash("foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn the_same_input_gives_the_same_text() {
        let a = generate(&input(&["hello", "world"], 4096));
        let b = generate(&input(&["hello", "world"], 4096));
        assert_eq!(a, b);
        let other = generate(&input(&["hello", "there"], 4096));
        assert_ne!(a.text, other.text);
        let other_model = generate(&GenerationInput {
            model_id: "m:1",
            ..input(&["hello", "world"], 4096)
        });
        assert_ne!(a.text, other_model.text);
    }

    #[test]
    fn output_tokens_are_the_estimate_and_within_the_target_range() {
        for i in 0..200 {
            let prompt = format!("prompt number {i}");
            let g = generate(&input(&[&prompt], 4096));
            assert_eq!(g.output_tokens, estimate_tokens(&g.text));
            // A natural end stops at the last whole word, up to one long word short of the target.
            assert!(
                (MIN_TARGET_TOKENS - 4..=MAX_TARGET_TOKENS).contains(&g.output_tokens),
                "{}",
                g.output_tokens
            );
            assert_eq!(g.stop_reason, StopReason::EndTurn);
            assert!(
                g.text.ends_with('.'),
                "a natural end closes its sentence: {:?}",
                g.text
            );
            let last = g
                .text
                .trim_end_matches('.')
                .rsplit(' ')
                .next()
                .unwrap_or_default();
            assert!(
                WORDS.iter().any(|w| w.eq_ignore_ascii_case(last)),
                "the last word is whole: {last:?}"
            );
            assert!(g.text.is_ascii() && !g.text.starts_with(' '));
        }
    }

    #[test]
    fn max_tokens_caps_the_output_exactly() {
        for cap in [1, 2, 3, 10, 19] {
            let g = generate(&input(&["cap me"], cap));
            assert_eq!(g.output_tokens, cap, "{:?}", g.text);
            assert_eq!(g.stop_reason, StopReason::MaxTokens);
        }
        let capped = generate(&input(&["prefix"], 5));
        let full = generate(&input(&["prefix"], 4096));
        assert!(full.text.starts_with(&capped.text));
    }

    #[test]
    fn a_stop_sequence_ends_the_text_before_it() {
        let full = generate(&input(&["stop here"], 4096));
        let word = full
            .text
            .split(' ')
            .nth(3)
            .unwrap()
            .trim_end_matches('.')
            .to_owned();
        let stop = [word.clone()];
        let g = generate(&GenerationInput {
            stop_sequences: &stop,
            ..input(&["stop here"], 4096)
        });
        assert_eq!(g.stop_reason, StopReason::StopSequence);
        assert!(!g.text.contains(&word));
        assert!(full.text.starts_with(&g.text));
        assert_eq!(g.output_tokens, estimate_tokens(&g.text));
    }
}
