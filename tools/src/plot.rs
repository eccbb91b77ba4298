//! Latency percentile plots as hand-written SVG, laid out like HdrHistogram's
//! percentile plots: the x axis is the percentile on a logarithmic scale of
//! `1 / (1 − p)`, so each decade of tail (90 %, 99 %, 99.9 %, …) gets the same width,
//! and the y axis is the latency, linear from zero.
//!
//! A series is a list of `(quantile, value in ns)` points from a histogram's quantile
//! iteration; points at or beyond the last decade shown (the maximum included) are
//! drawn at the right edge. The axis extends to the decade that `samples` resolves
//! (`1 − 1/samples`), at least 99 % and at most 99.9999 %. Output is a standalone SVG
//! 1.1 document with a title, axis labels, grid lines, a legend and one `<polyline>`
//! per series (`data-series` holds its name).

use std::fmt::Write as _;

/// One curve.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// Name shown in the legend.
    pub name: String,
    /// `(quantile in [0, 1], latency in ns)`, quantiles non-decreasing.
    pub points: Vec<(f64, u64)>,
}

const W: f64 = 960.0;
const H: f64 = 560.0;
const LEFT: f64 = 90.0;
const RIGHT: f64 = 30.0;
const TOP: f64 = 50.0;
const BOTTOM: f64 = 70.0;
const COLORS: [&str; 8] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf",
];

/// Escapes text for SVG content and attribute values.
fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            c => o.push(c),
        }
    }
    o
}

/// Label of the percentile at `decade` nines: 0 → "0%", 1 → "90%", 3 → "99.9%".
pub fn percentile_label(decade: u32) -> String {
    match decade {
        0 => "0%".into(),
        1 => "90%".into(),
        2 => "99%".into(),
        d => format!("99.{}%", "9".repeat(d as usize - 2)),
    }
}

/// Decades shown for `samples` records: the first that resolves `1 − 1/samples`,
/// within 2..=6.
pub fn decades_for(samples: u64) -> u32 {
    let mut d = 0u32;
    let mut resolved = 1u64;
    while resolved < samples && d < 6 {
        d += 1;
        resolved = resolved.saturating_mul(10);
    }
    d.clamp(2, 6)
}

/// Unit for a maximum latency in ns: (name, ns per unit).
fn unit_for(max_ns: u64) -> (&'static str, f64) {
    if max_ns < 10_000 {
        ("ns", 1.0)
    } else if max_ns < 10_000_000 {
        ("µs", 1e3)
    } else {
        ("ms", 1e6)
    }
}

/// A step of 1, 2 or 5 × 10^k giving at most about `n` intervals up to `max`.
fn nice_step(max: f64, n: f64) -> f64 {
    let raw = (max / n).max(f64::MIN_POSITIVE);
    let p = 10f64.powf(raw.log10().floor());
    for m in [1.0, 2.0, 5.0, 10.0] {
        if m * p >= raw {
            return m * p;
        }
    }
    10.0 * p
}

/// Formats an axis value without trailing zeros.
fn fmt_tick(v: f64) -> String {
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

/// The percentile plot of `series` (see the module docs) as an SVG document.
pub fn percentile_svg(title: &str, samples: u64, series: &[Series]) -> String {
    let decades = decades_for(samples);
    let max_ns = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .max()
        .unwrap_or(0)
        .max(1);
    let (unit, per) = unit_for(max_ns);
    let step = nice_step(max_ns as f64 / per, 6.0);
    let y_max = ((max_ns as f64 / per) / step).ceil().max(1.0) * step;
    let (pw, ph) = (W - LEFT - RIGHT, H - TOP - BOTTOM);
    let x_of = |q: f64| {
        let cap = 1.0 - 10f64.powi(-(decades as i32));
        let q = q.clamp(0.0, cap);
        let x = (1.0 / (1.0 - q)).log10().min(decades as f64);
        LEFT + pw * x / decades as f64
    };
    let y_of = |ns: u64| TOP + ph * (1.0 - (ns as f64 / per) / y_max);

    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="13">
<rect x="0" y="0" width="{W}" height="{H}" fill="white"/>
<text x="{}" y="28" text-anchor="middle" font-size="17">{}</text>"#,
        W / 2.0,
        esc(title)
    );
    // Vertical grid and x labels, one per decade.
    s.push_str("<g class=\"x-axis\" stroke=\"#dddddd\">\n");
    for d in 0..=decades {
        let x = LEFT + pw * d as f64 / decades as f64;
        let _ = writeln!(
            s,
            r#"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{:.1}"/><text x="{x:.1}" y="{:.1}" text-anchor="middle" stroke="none" fill="black">{}</text>"#,
            TOP + ph,
            TOP + ph + 20.0,
            percentile_label(d)
        );
    }
    s.push_str("</g>\n");
    // Horizontal grid and y labels.
    s.push_str("<g class=\"y-axis\" stroke=\"#dddddd\">\n");
    let ticks = (y_max / step).round() as u32;
    for i in 0..=ticks {
        let v = step * i as f64;
        let y = TOP + ph * (1.0 - v / y_max);
        let _ = writeln!(
            s,
            r#"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}"/><text x="{:.1}" y="{:.1}" text-anchor="end" stroke="none" fill="black">{}</text>"#,
            LEFT + pw,
            LEFT - 8.0,
            y + 4.0,
            fmt_tick(v)
        );
    }
    s.push_str("</g>\n");
    let _ = writeln!(
        s,
        r#"<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="none" stroke="black"/>
<text x="{:.1}" y="{:.1}" text-anchor="middle">Percentile</text>
<text x="22" y="{:.1}" text-anchor="middle" transform="rotate(-90 22 {:.1})">Latency ({unit})</text>"#,
        LEFT + pw / 2.0,
        H - 18.0,
        TOP + ph / 2.0,
        TOP + ph / 2.0
    );
    for (i, ser) in series.iter().enumerate() {
        let mut pts = String::new();
        for &(q, v) in &ser.points {
            let _ = write!(pts, "{:.1},{:.1} ", x_of(q), y_of(v));
        }
        let _ = writeln!(
            s,
            r#"<polyline class="series" data-series="{}" fill="none" stroke="{}" stroke-width="2" points="{}"/>"#,
            esc(&ser.name),
            COLORS[i % COLORS.len()],
            pts.trim_end()
        );
    }
    if !series.is_empty() {
        let longest = series
            .iter()
            .map(|x| x.name.chars().count())
            .max()
            .unwrap_or(0);
        let _ = writeln!(
            s,
            r##"<rect class="legend" x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="white" fill-opacity="0.85" stroke="#bbbbbb"/>"##,
            LEFT + 6.0,
            TOP + 6.0,
            48.0 + 7.5 * longest as f64,
            8.0 + 18.0 * series.len() as f64
        );
    }
    for (i, ser) in series.iter().enumerate() {
        let ly = TOP + 24.0 + 18.0 * i as f64;
        let _ = writeln!(
            s,
            r#"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{}" stroke-width="3"/><text x="{:.1}" y="{:.1}">{}</text>"#,
            LEFT + 12.0,
            ly - 4.0,
            LEFT + 36.0,
            ly - 4.0,
            COLORS[i % COLORS.len()],
            LEFT + 42.0,
            ly,
            esc(&ser.name)
        );
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks that tags nest and close (a small XML well-formedness check: no
    /// attribute with `>` inside, which `esc` guarantees), returning the element names
    /// in document order.
    pub(crate) fn elements(svg: &str) -> Result<Vec<String>, String> {
        let mut stack: Vec<String> = Vec::new();
        let mut names = Vec::new();
        let mut rest = svg;
        while let Some(i) = rest.find('<') {
            let after = &rest[i + 1..];
            let end = after.find('>').ok_or("unclosed tag")?;
            let tag = &after[..end];
            rest = &after[end + 1..];
            if tag.starts_with('?') {
                continue;
            }
            if let Some(name) = tag.strip_prefix('/') {
                match stack.pop() {
                    Some(open) if open == name.trim() => {}
                    other => return Err(format!("</{name}> closes {other:?}")),
                }
                continue;
            }
            let name: String = tag
                .chars()
                .take_while(|c| !c.is_whitespace() && *c != '/')
                .collect();
            if !tag.matches('"').count().is_multiple_of(2) {
                return Err(format!("unbalanced quotes in <{tag}>"));
            }
            names.push(name.clone());
            if !tag.ends_with('/') {
                stack.push(name);
            }
        }
        if !stack.is_empty() {
            return Err(format!("unclosed {stack:?}"));
        }
        Ok(names)
    }

    fn series(name: &str, scale: u64) -> Series {
        Series {
            name: name.into(),
            points: vec![
                (0.0, scale),
                (0.5, 2 * scale),
                (0.9, 3 * scale),
                (0.99, 5 * scale),
                (0.999, 9 * scale),
                (1.0, 20 * scale),
            ],
        }
    }

    #[test]
    fn labels_decades_of_nines() {
        let labels: Vec<String> = (0..=5).map(percentile_label).collect();
        assert_eq!(labels, ["0%", "90%", "99%", "99.9%", "99.99%", "99.999%"]);
        assert_eq!(decades_for(1), 2);
        assert_eq!(decades_for(100), 2);
        assert_eq!(decades_for(101), 3);
        assert_eq!(decades_for(5_000), 4);
        assert_eq!(decades_for(u64::MAX), 6);
    }

    #[test]
    fn draws_a_well_formed_plot_with_every_series_and_axis() {
        let svg = percentile_svg(
            "Tick-to-order <by stage> & more",
            5_000,
            &[
                series("tick-to-order (recv -> sent)", 1_000),
                series("engine", 100),
            ],
        );
        let names = elements(&svg).expect("well formed");
        assert_eq!(names.first().map(String::as_str), Some("svg"));
        assert_eq!(names.iter().filter(|n| *n == "polyline").count(), 2);
        assert!(svg.contains(r#"data-series="tick-to-order (recv -&gt; sent)""#));
        assert!(svg.contains(r#"data-series="engine""#));
        assert!(svg.contains("Tick-to-order &lt;by stage&gt; &amp; more"));
        // 5,000 samples: axis to 99.99 %; max 20 µs, so µs with 5 µs steps.
        for label in [
            ">0%<",
            ">90%<",
            ">99%<",
            ">99.9%<",
            ">99.99%<",
            ">Percentile<",
            ">Latency (µs)<",
            ">20<",
        ] {
            assert!(svg.contains(label), "{label} missing");
        }
        assert!(!svg.contains(">99.999%<"));
        // The first point is at the left edge; the 0..20 µs axis runs from y = 490
        // (560 − 70) up to y = 50, so 1 µs sits 22 px above the bottom; the maximum
        // (quantile 1) is at the top right corner.
        assert!(svg.contains(r#"points="90.0,468.0 "#), "{svg}");
        assert!(svg.contains(" 930.0,50.0\""), "{svg}");
    }

    #[test]
    fn picks_the_unit_from_the_largest_value() {
        let ns = percentile_svg("t", 10, &[series("a", 10)]);
        assert!(ns.contains(">Latency (ns)<"));
        let ms = percentile_svg("t", 10, &[series("a", 1_000_000)]);
        assert!(ms.contains(">Latency (ms)<"));
        let empty = percentile_svg("t", 0, &[]);
        assert!(elements(&empty).is_ok());
    }
}
