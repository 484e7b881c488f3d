//! Statistics for benchmark samples: robust summaries, a distribution-free confidence interval
//! for the median, a bootstrap interval for the ratio of two medians, and stability checks.

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub n: usize,
    pub median: f64,
    /// 95% confidence interval of the median (order statistics; exact binomial ranks).
    pub ci: (f64, f64),
    pub q1: f64,
    pub q3: f64,
    pub min: f64,
    pub max: f64,
}

impl Summary {
    /// Half the interval's width relative to the median: the `±` a reader sees.
    pub fn rel_half_width(&self) -> f64 {
        if self.median > 0.0 {
            (self.ci.1 - self.ci.0) / 2.0 / self.median
        } else {
            f64::INFINITY
        }
    }
}

pub fn sorted(xs: &[f64]) -> Vec<f64> {
    let mut v = xs.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    v
}

/// Linear-interpolated quantile of sorted data (the "type 7" rule of R and numpy).
pub fn quantile(s: &[f64], q: f64) -> f64 {
    if s.is_empty() {
        return f64::NAN;
    }
    let h = (s.len() - 1) as f64 * q;
    let lo = h.floor() as usize;
    let hi = h.ceil() as usize;
    s[lo] + (h - lo as f64) * (s[hi] - s[lo])
}

/// Ranks (1-based) of the order statistics bounding a 95% interval for the median: the largest
/// `j` with P(Binomial(n, ½) < j) ≤ 2.5%, and `n + 1 - j`. Fewer than 6 samples give [min, max].
pub fn median_ci_ranks(n: usize) -> (usize, usize) {
    if n < 6 {
        return (1, n.max(1));
    }
    let mut log_pmf = -(n as f64) * std::f64::consts::LN_2;
    let (mut cdf, mut j) = (0.0, 1);
    for k in 0..n {
        cdf += log_pmf.exp(); // P(X <= k)
        if cdf > 0.025 {
            break;
        }
        j = j.max(k + 1);
        log_pmf += ((n - k) as f64 / (k + 1) as f64).ln();
    }
    (j, n + 1 - j)
}

pub fn summarize(xs: &[f64]) -> Summary {
    let s = sorted(xs);
    let n = s.len();
    if n == 0 {
        return Summary {
            n,
            median: f64::NAN,
            ci: (f64::NAN, f64::NAN),
            q1: f64::NAN,
            q3: f64::NAN,
            min: f64::NAN,
            max: f64::NAN,
        };
    }
    let (lo, hi) = median_ci_ranks(n);
    Summary {
        n,
        median: quantile(&s, 0.5),
        ci: (s[lo - 1], s[hi - 1]),
        q1: quantile(&s, 0.25),
        q3: quantile(&s, 0.75),
        min: s[0],
        max: s[n - 1],
    }
}

/// A small deterministic generator (SplitMix64): reproducible intervals for the same samples.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

fn median_of(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    quantile(v, 0.5)
}

/// Ratio of medians `b / a` with a 95% interval from a two-stage bootstrap: processes are
/// resampled (the same processes for both, since they ran interleaved), then samples within each.
/// `a[p]` and `b[p]` are the samples of process `p`.
pub fn ratio_ci(a: &[Vec<f64>], b: &[Vec<f64>], iterations: usize) -> (f64, (f64, f64)) {
    let flat = |g: &[Vec<f64>]| g.iter().flatten().copied().collect::<Vec<f64>>();
    let point = median_of(&mut flat(b)) / median_of(&mut flat(a));
    let procs: Vec<usize> = (0..a.len().min(b.len()))
        .filter(|&p| !a[p].is_empty() && !b[p].is_empty())
        .collect();
    if procs.is_empty() {
        return (point, (f64::NAN, f64::NAN));
    }
    let mut rng = Rng::new(0x5EED ^ (a.len() as u64) << 32 ^ flat(a).len() as u64);
    let mut ratios = Vec::with_capacity(iterations);
    let (mut ra, mut rb) = (Vec::new(), Vec::new());
    for _ in 0..iterations {
        ra.clear();
        rb.clear();
        for _ in 0..procs.len() {
            let p = procs[rng.below(procs.len())];
            for _ in 0..a[p].len() {
                ra.push(a[p][rng.below(a[p].len())]);
            }
            for _ in 0..b[p].len() {
                rb.push(b[p][rng.below(b[p].len())]);
            }
        }
        ratios.push(median_of(&mut rb) / median_of(&mut ra));
    }
    ratios.sort_by(|x, y| x.total_cmp(y));
    (point, (quantile(&ratios, 0.025), quantile(&ratios, 0.975)))
}

/// Share of samples beyond Tukey's far-out fences (3 IQR outside the quartiles).
pub fn outlier_share(xs: &[f64]) -> f64 {
    let s = sorted(xs);
    if s.len() < 4 {
        return 0.0;
    }
    let (q1, q3) = (quantile(&s, 0.25), quantile(&s, 0.75));
    let iqr = q3 - q1;
    let out = s.iter().filter(|&&x| x < q1 - 3.0 * iqr || x > q3 + 3.0 * iqr).count();
    out as f64 / s.len() as f64
}

/// Spearman's rank correlation of samples with their order in time (drift: near ±1).
pub fn trend(xs: &[f64]) -> f64 {
    let n = xs.len();
    if n < 3 {
        return 0.0;
    }
    let mut idx: Vec<usize> = (0..n).collect();
    idx.sort_by(|&i, &j| xs[i].total_cmp(&xs[j]));
    let mut rank = vec![0.0; n];
    for (r, &i) in idx.iter().enumerate() {
        rank[i] = r as f64;
    }
    let mean = (n - 1) as f64 / 2.0;
    let (mut num, mut den) = (0.0, 0.0);
    for (i, r) in rank.iter().enumerate() {
        num += (i as f64 - mean) * (r - mean);
        den += (i as f64 - mean).powi(2);
    }
    num / den
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_match_numpy() {
        let s = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile(&s, 0.5), 2.5);
        assert_eq!(quantile(&s, 0.25), 1.75);
        assert_eq!(quantile(&s, 0.75), 3.25);
    }

    #[test]
    fn median_interval_ranks_are_the_binomial_ones() {
        // Known values of the distribution-free 95% interval for the median.
        assert_eq!(median_ci_ranks(6), (1, 6));
        assert_eq!(median_ci_ranks(10), (2, 9));
        assert_eq!(median_ci_ranks(20), (6, 15));
        assert_eq!(median_ci_ranks(100), (40, 61));
        assert_eq!(median_ci_ranks(3), (1, 3));
    }

    #[test]
    fn summary_of_a_known_sample() {
        let xs: Vec<f64> = (1..=20).map(|i| i as f64).collect();
        let s = summarize(&xs);
        assert_eq!((s.median, s.min, s.max, s.n), (10.5, 1.0, 20.0, 20));
        assert_eq!(s.ci, (6.0, 15.0));
    }

    #[test]
    fn ratio_interval_holds_the_true_ratio() {
        let mut rng = Rng::new(7);
        let mut noisy = |base: f64| base * (1.0 + (rng.below(1000) as f64 / 1000.0 - 0.5) * 0.02);
        let a: Vec<Vec<f64>> = (0..8).map(|_| (0..6).map(|_| noisy(1.0)).collect()).collect();
        let b: Vec<Vec<f64>> = (0..8).map(|_| (0..6).map(|_| noisy(2.0)).collect()).collect();
        let (r, (lo, hi)) = ratio_ci(&a, &b, 1000);
        assert!(lo <= r && r <= hi);
        assert!(lo > 1.95 && hi < 2.05, "{lo} {hi}");
    }

    #[test]
    fn outliers_and_trend() {
        let mut xs: Vec<f64> = (0..40).map(|i| 1.0 + (i % 10) as f64 * 0.01).collect();
        xs[3] = 10.0;
        xs[7] = 12.0;
        assert_eq!(outlier_share(&xs), 2.0 / 40.0);
        let rising: Vec<f64> = (0..30).map(|i| i as f64).collect();
        assert!((trend(&rising) - 1.0).abs() < 1e-9);
    }
}
