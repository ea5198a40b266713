//! The token estimate shared by the balancer and the simulator.
//!
//! Bedrock counts tokens with each model's own tokenizer, which the balancer cannot run. Both
//! sides use the same documented estimate instead: one token per four characters (Unicode
//! scalar values), rounded up, at least one. The simulator reports usage with this estimate, so
//! reservations made by the balancer match what the simulator settles.

/// Estimated token count of `text`: `ceil(chars / 4)`, and at least 1.
pub fn estimate_tokens(text: &str) -> u32 {
    let chars = text.chars().count();
    let tokens = chars.div_ceil(4).max(1);
    u32::try_from(tokens).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_up_and_never_returns_zero() {
        assert_eq!(estimate_tokens(""), 1);
        assert_eq!(estimate_tokens("abc"), 1);
        assert_eq!(estimate_tokens("abcd"), 1);
        assert_eq!(estimate_tokens("abcde"), 2);
        assert_eq!(estimate_tokens(&"x".repeat(400)), 100);
    }

    #[test]
    fn counts_characters_not_bytes() {
        assert_eq!(estimate_tokens("ééééé"), 2);
    }
}
