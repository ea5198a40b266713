//! The routing strategies: given the buckets that can admit a call now, the order in which to
//! try them (the first whose rpm limiter lets the call through gets it). Pure ordering, so each
//! strategy is tested on its own.

use bedrock_lb_core::Strategy;

/// A bucket with room for the call now, as the strategies see it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Candidate {
    /// Position among the model's routed buckets (the bucket order).
    pub position: usize,
    /// Free tokens after the call: `limit − used − reservation` (negative for an oversized
    /// call admitted alone); for max-available, `limit − settled this window`.
    pub free: i128,
    /// The bucket's current limit (share after backoff).
    pub limit: u64,
    pub weight: u32,
    /// Smoothed latency; unknown counts as zero (an untried bucket is worth trying).
    pub latency_ms: Option<u64>,
}

impl Candidate {
    /// Free capacity after the call in whole percent of the limit: buckets within the same
    /// percent count as equally free, so that weight and then latency decide between them.
    fn free_percent(&self) -> i128 {
        (self.free * 100).div_euclid(i128::from(self.limit.max(1)))
    }
}

/// Orders `candidates` by preference. `cursor` is the model's round-robin position and `routed`
/// the number of routed buckets it rotates over.
pub(crate) fn order(
    strategy: Strategy,
    candidates: &mut Vec<Candidate>,
    cursor: usize,
    routed: usize,
) {
    match strategy {
        Strategy::QuotaAware => candidates.sort_by(|a, b| {
            b.free_percent()
                .cmp(&a.free_percent())
                .then(b.weight.cmp(&a.weight))
                .then(a.latency_ms.unwrap_or(0).cmp(&b.latency_ms.unwrap_or(0)))
                .then(a.position.cmp(&b.position))
        }),
        Strategy::RoundRobin => {
            let n = routed.max(1);
            candidates.sort_by_key(|c| (c.position + n - cursor % n) % n);
        }
        Strategy::Weighted => weighted_shuffle(candidates),
        Strategy::Failover => {
            candidates.sort_by(|a, b| b.weight.cmp(&a.weight).then(a.position.cmp(&b.position)));
        }
        Strategy::MaxAvailable => {
            candidates.retain(|c| c.free > 0);
            candidates.sort_by(|a, b| b.free.cmp(&a.free).then(a.position.cmp(&b.position)));
        }
    }
}

/// Random order where each next pick is drawn in proportion to weight (uniform among zero
/// weights once only those are left).
fn weighted_shuffle(candidates: &mut Vec<Candidate>) {
    let mut rest = std::mem::take(candidates);
    while !rest.is_empty() {
        let total: u64 = rest.iter().map(|c| u64::from(c.weight)).sum();
        let pick = if total == 0 {
            fastrand::usize(..rest.len())
        } else {
            let mut roll = fastrand::u64(..total);
            rest.iter()
                .position(|c| {
                    let w = u64::from(c.weight);
                    if roll < w {
                        true
                    } else {
                        roll -= w;
                        false
                    }
                })
                .unwrap_or(0)
        };
        candidates.push(rest.remove(pick));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(position: usize, free: i128, limit: u64, weight: u32) -> Candidate {
        Candidate {
            position,
            free,
            limit,
            weight,
            latency_ms: None,
        }
    }

    fn positions(strategy: Strategy, mut cs: Vec<Candidate>, cursor: usize) -> Vec<usize> {
        let n = cs.len();
        order(strategy, &mut cs, cursor, n);
        cs.iter().map(|c| c.position).collect()
    }

    #[test]
    fn quota_aware_prefers_the_freest_fraction_then_weight_then_latency() {
        let cs = vec![
            c(0, 5_000, 100_000, 1),
            c(1, 900, 1_000, 1),
            c(2, 50_000, 100_000, 1),
        ];
        assert_eq!(positions(Strategy::QuotaAware, cs, 0), [1, 2, 0]);
        let mut tie = vec![
            c(0, 500, 1_000, 1),
            c(1, 500, 1_000, 3),
            c(2, 500, 1_000, 3),
        ];
        tie[1].latency_ms = Some(900);
        tie[2].latency_ms = Some(100);
        assert_eq!(positions(Strategy::QuotaAware, tie, 0), [2, 1, 0]);
    }

    #[test]
    fn failover_sticks_to_the_highest_weight() {
        let cs = vec![
            c(0, 9_000, 10_000, 1),
            c(1, 10, 10_000, 5),
            c(2, 10, 10_000, 2),
        ];
        assert_eq!(positions(Strategy::Failover, cs, 0), [1, 2, 0]);
    }

    #[test]
    fn round_robin_rotates_from_the_cursor() {
        let cs = || vec![c(0, 1, 1, 1), c(1, 1, 1, 1), c(2, 1, 1, 1)];
        assert_eq!(positions(Strategy::RoundRobin, cs(), 0), [0, 1, 2]);
        assert_eq!(positions(Strategy::RoundRobin, cs(), 1), [1, 2, 0]);
        assert_eq!(positions(Strategy::RoundRobin, cs(), 5), [2, 0, 1]);
    }

    #[test]
    fn max_available_takes_the_most_tokens_left_and_skips_full_counters() {
        let cs = vec![
            c(0, 100, 1_000, 1),
            c(1, 0, 1_000, 1),
            c(2, 400, 100_000, 1),
        ];
        assert_eq!(positions(Strategy::MaxAvailable, cs, 0), [2, 0]);
    }

    #[test]
    fn weighted_draws_in_proportion_to_weight() {
        fastrand::seed(7);
        let mut firsts = [0u32; 2];
        for _ in 0..1_000 {
            let order = positions(Strategy::Weighted, vec![c(0, 1, 1, 1), c(1, 1, 1, 3)], 0);
            assert_eq!(order.len(), 2);
            firsts[order[0]] += 1;
        }
        assert!((650..850).contains(&firsts[1]), "{firsts:?}");
    }
}
