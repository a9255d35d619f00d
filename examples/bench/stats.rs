//! Small statistics: medians, percentiles, and the rows of the results table.

use std::time::Duration;

pub fn median(values: &[f64]) -> f64 {
    percentile(values, 50.0)
}

/// Nearest-rank percentile; 0 for no values.
pub fn percentile(values: &[f64], p: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Is bigger better, or smaller? Decides how a target compares.
#[derive(Clone, Copy, PartialEq)]
pub enum Goal {
    /// `ratio >= x` (plainsock / baseline).
    RatioAtLeast(f64),
    /// `value < x`, in the row's unit.
    Below(f64),
}

/// One line of the table and of results.csv.
pub struct Row {
    pub scenario: String,
    pub measure: String,
    pub unit: &'static str,
    pub value: f64,
    pub baseline: Option<f64>,
    pub goal: Option<Goal>,
    pub note: String,
}

impl Row {
    pub fn new(scenario: &str, measure: &str, unit: &'static str, value: f64) -> Row {
        Row {
            scenario: scenario.into(),
            measure: measure.into(),
            unit,
            value,
            baseline: None,
            goal: None,
            note: String::new(),
        }
    }

    pub fn baseline(mut self, baseline: f64) -> Row {
        self.baseline = Some(baseline);
        self
    }

    pub fn goal(mut self, goal: Goal) -> Row {
        self.goal = Some(goal);
        self
    }

    pub fn note(mut self, note: impl Into<String>) -> Row {
        self.note = note.into();
        self
    }

    pub fn ratio(&self) -> Option<f64> {
        self.baseline.filter(|b| *b > 0.0).map(|b| self.value / b)
    }

    pub fn target_text(&self) -> String {
        match self.goal {
            Some(Goal::RatioAtLeast(x)) => format!(">= {x}x"),
            Some(Goal::Below(x)) => format!("< {} {}", number(x), self.unit),
            None => String::new(),
        }
    }

    /// Some(true) met, Some(false) not met, None: no target (or nothing measured).
    pub fn met(&self) -> Option<bool> {
        if !self.value.is_finite() {
            return Some(false).filter(|_| self.goal.is_some());
        }
        match self.goal? {
            Goal::RatioAtLeast(x) => self.ratio().map(|r| r >= x),
            Goal::Below(x) => Some(self.value < x),
        }
    }
}

/// A number with 3 significant digits, thousands kept readable.
pub fn number(x: f64) -> String {
    if !x.is_finite() {
        return "n/a".into();
    }
    let a = x.abs();
    if a >= 100.0 || x.fract() == 0.0 {
        group(x.round() as i64)
    } else if a >= 10.0 {
        format!("{x:.1}")
    } else if a >= 1.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.3}")
    }
}

fn group(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}
