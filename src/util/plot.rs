//! Training-curve plots as PNG files (loss, validation AP/AUC, ... against epoch).
//!
//! [`plot_curves`] draws one or more [`Panel`]s, two side by side per row (a lone
//! panel gets the whole row), each row about 1200x400 pixels, under an overall
//! title. Every panel has its own axes, axis labels and a legend with one entry per
//! [`Series`]; the legend goes into whichever corner of the panel the curves cover
//! least.
//!
//! Data handling: points whose x or y is not finite (NaN, ±inf) are skipped and
//! break the line there (a gap, not a bridge across the missing value); a point
//! with no finite neighbour is still drawn as a marker; series and panels with no
//! finite point at all draw empty axes (the series keeps its legend entry). All
//! points carry markers while a series is short enough for them to stay legible.
//!
//! Rendering needs no system fonts: DejaVu Sans is embedded in the binary
//! (`assets/fonts/DejaVuSans.ttf`, license in `assets/fonts/DejaVuSans-LICENSE.txt`)
//! and rasterized with `ab_glyph` through plotters. The PNG is written atomically:
//! rendered next to the target, then moved into place with
//! [`crate::util::atomic::write_file`], so a reader never sees a half-written plot.

use std::fs;
use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

use crate::util::atomic;

/// One set of axes: a title, a y-axis label and the curves drawn in it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Panel {
    pub title: String,
    pub y_label: String,
    pub series: Vec<Series>,
}

/// One curve: its legend name and its `(x, y)` points, in drawing order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    #[error("nothing to plot: no panels given for {}", .0.display())]
    NoPanels(PathBuf),
    #[error("the embedded plot font could not be loaded")]
    Font,
    #[error("rendering plot {}: {message}", path.display())]
    Render { path: PathBuf, message: String },
    #[error("writing plot {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Width of one row of panels, in pixels.
const ROW_WIDTH: u32 = 1200;
/// Height of one row of panels, in pixels.
const ROW_HEIGHT: u32 = 400;
/// Height of the band holding the overall title.
const TITLE_HEIGHT: u32 = 40;
const PANELS_PER_ROW: usize = 2;
/// Series with at most this many finite points get a marker on every point.
const MAX_MARKED_POINTS: usize = 60;

const FONT: &str = "sans-serif";
const TITLE_SIZE: u32 = 22;
const CAPTION_SIZE: u32 = 17;
const AXIS_DESC_SIZE: u32 = 15;
const TICK_SIZE: u32 = 13;
const LEGEND_SIZE: u32 = 13;

/// Tableau 10: distinguishable, and readable on white.
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

static DEJAVU_SANS: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

/// Register the embedded font with plotters (process-wide, once).
fn ensure_font() -> Result<(), PlotError> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| register_font(FONT, FontStyle::Normal, DEJAVU_SANS).is_ok());
    if ok { Ok(()) } else { Err(PlotError::Font) }
}

/// Draw `panels` (two per row) under `title` into a PNG at `path`, replacing any
/// file there atomically. `x_label` is the x-axis label of every panel (e.g.
/// "epoch"). The parent directory is created if missing. See the module docs for
/// how non-finite points and empty series are handled.
pub fn plot_curves(path: &Path, title: &str, x_label: &str, panels: &[Panel]) -> Result<(), PlotError> {
    plot(path, title, x_label, panels, false)
}

/// Like [`plot_curves`] with both axes logarithmic (base 10): points with x or y
/// not positive are skipped like non-finite ones; ticks read as plain values.
pub fn plot_loglog(path: &Path, title: &str, x_label: &str, panels: &[Panel]) -> Result<(), PlotError> {
    plot(path, title, x_label, panels, true)
}

fn plot(path: &Path, title: &str, x_label: &str, panels: &[Panel], log: bool) -> Result<(), PlotError> {
    if panels.is_empty() {
        return Err(PlotError::NoPanels(path.to_path_buf()));
    }
    ensure_font()?;
    let io_err = |source| PlotError::Io { path: path.to_path_buf(), source };

    // Render into a scratch directory next to the target (the bitmap encoder picks
    // the format from the file extension, so the scratch file is `plot.png`), then
    // hand the bytes to the atomic writer. The scratch directory goes on drop.
    let scratch = atomic::TempDir::new(path).map_err(io_err)?;
    let tmp_png = scratch.path().join("plot.png");
    render(&tmp_png, title, x_label, panels, log)
        .map_err(|message| PlotError::Render { path: path.to_path_buf(), message })?;
    let bytes = fs::read(&tmp_png).map_err(io_err)?;
    atomic::write_file(path, &bytes).map_err(io_err)
}

fn render(png: &Path, title: &str, x_label: &str, panels: &[Panel], log: bool) -> Result<(), String> {
    let cols = panels.len().min(PANELS_PER_ROW);
    let rows = panels.len().div_ceil(cols);
    let height = TITLE_HEIGHT + ROW_HEIGHT * rows as u32;
    let root = BitMapBackend::new(png, (ROW_WIDTH, height)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let body = root.titled(title, (FONT, TITLE_SIZE).into_font().color(&BLACK)).map_err(|e| e.to_string())?;
    for (area, panel) in body.split_evenly((rows, cols)).iter().zip(panels) {
        let panel = if log { &log10_panel(panel) } else { panel };
        draw_panel(area, x_label, panel, log).map_err(|e| e.to_string())?;
    }
    root.present().map_err(|e| e.to_string())
}

type DrawResult<'a> = Result<(), DrawingAreaErrorKind<<BitMapBackend<'a> as DrawingBackend>::ErrorType>>;

/// The panel with every coordinate replaced by its base-10 logarithm (NaN for
/// values that are not positive, which `finite_runs` then skips).
fn log10_panel(panel: &Panel) -> Panel {
    let l = |v: f64| if v > 0.0 { v.log10() } else { f64::NAN };
    Panel {
        series: panel
            .series
            .iter()
            .map(|s| Series {
                name: s.name.clone(),
                points: s.points.iter().map(|&(x, y)| (l(x), l(y))).collect(),
            })
            .collect(),
        ..panel.clone()
    }
}

/// `log`: the coordinates are base-10 logarithms (ticks show `10^v`).
fn draw_panel<'a>(
    area: &DrawingArea<BitMapBackend<'a>, Shift>,
    x_label: &str,
    panel: &Panel,
    log: bool,
) -> DrawResult<'a> {
    // Runs of consecutive finite points, per series.
    let runs: Vec<Vec<Vec<(f64, f64)>>> = panel.series.iter().map(|s| finite_runs(&s.points)).collect();
    let all = || runs.iter().flatten().flatten().copied();
    let x_range = padded_range(all().map(|p| p.0));
    let y_range = padded_range(all().map(|p| p.1));

    let mut chart = ChartBuilder::on(area)
        .caption(&panel.title, (FONT, CAPTION_SIZE))
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d(x_range.clone(), y_range.clone())?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(&panel.y_label)
        .label_style((FONT, TICK_SIZE))
        .axis_desc_style((FONT, AXIS_DESC_SIZE))
        .x_labels(8)
        .y_labels(8)
        .x_label_formatter(&|v| if log { tick_label(10f64.powf(*v)) } else { tick_label(*v) })
        .y_label_formatter(&|v| if log { tick_label(10f64.powf(*v)) } else { tick_label(*v) })
        .light_line_style(RGBColor(240, 240, 240))
        .bold_line_style(RGBColor(215, 215, 215))
        .draw()?;

    for (i, (series, runs)) in panel.series.iter().zip(&runs).enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let line = color.stroke_width(2);
        let n_points: usize = runs.iter().map(Vec::len).sum();
        let marked = n_points <= MAX_MARKED_POINTS;
        for run in runs {
            let marker = if marked || run.len() == 1 { 3 } else { 0 };
            chart.draw_series(LineSeries::new(run.iter().copied(), line).point_size(marker))?;
        }
        if !series.name.is_empty() {
            // The legend entry hangs off an empty draw, so it exists once per
            // series (not per run) and also for series without data.
            let anno = chart.draw_series(std::iter::empty::<PathElement<(f64, f64)>>())?;
            anno.label(series.name.as_str()).legend(move |(x, y)| {
                EmptyElement::at((x, y))
                    + PathElement::new(vec![(0, 0), (20, 0)], line)
                    + Circle::new((10, 0), 3, color.filled())
            });
        }
    }

    if panel.series.iter().any(|s| !s.name.is_empty()) {
        let (pw, ph) = chart.plotting_area().dim_in_pixel();
        let legend_dim = estimate_legend_size(area, panel);
        let position = legend_corner(&runs, &x_range, &y_range, (pw, ph), legend_dim);
        chart
            .configure_series_labels()
            .position(position)
            .label_font((FONT, LEGEND_SIZE))
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(160, 160, 160))
            .draw()?;
    }
    Ok(())
}

/// Split `points` at non-finite values into runs of consecutive finite points.
fn finite_runs(points: &[(f64, f64)]) -> Vec<Vec<(f64, f64)>> {
    let mut runs = Vec::new();
    let mut current = Vec::new();
    for &(x, y) in points {
        if x.is_finite() && y.is_finite() {
            current.push((x, y));
        } else if !current.is_empty() {
            runs.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        runs.push(current);
    }
    runs
}

/// Data range plus a small margin (so markers at the edges are not clipped);
/// `0..1` without data, a unit-ish window around a single value.
fn padded_range(values: impl Iterator<Item = f64>) -> Range<f64> {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if lo > hi {
        return 0.0..1.0;
    }
    let span = hi - lo;
    let pad = if span > 0.0 { span * 0.04 } else { (lo.abs() * 0.1).max(0.5) };
    (lo - pad)..(hi + pad)
}

/// Compact tick labels: integers without decimals, small/large values in
/// scientific notation, otherwise up to 4 significant digits.
fn tick_label(v: f64) -> String {
    let a = v.abs();
    // Ticks computed as sums of steps land near, not on, zero (e.g. 5.6e-17).
    if a < 1e-12 {
        return "0".to_string();
    }
    if !(1e-3..1e5).contains(&a) {
        return format!("{v:.1e}");
    }
    if (v - v.round()).abs() < 1e-9 * a.max(1.0) {
        return format!("{}", v.round() as i64);
    }
    let decimals = (3 - a.log10().floor() as i32).clamp(0, 6) as usize;
    let s = format!("{v:.decimals$}");
    if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s }
}

/// Legend box size in pixels, mirroring plotters' layout (text block plus a
/// 30 px sample area plus 5 px margins on each side).
fn estimate_legend_size(area: &DrawingArea<BitMapBackend<'_>, Shift>, panel: &Panel) -> (u32, u32) {
    let style = (FONT, LEGEND_SIZE).into_text_style(area);
    let mut w = 0u32;
    let mut h = 0u32;
    for s in panel.series.iter().filter(|s| !s.name.is_empty()) {
        let (tw, th) = area.estimate_text_size(&s.name, &style).unwrap_or((8 * s.name.len() as u32, 13));
        w = w.max(tw);
        h += th.max(LEGEND_SIZE) + 2;
    }
    (w + 30 + 10, h + 10)
}

/// The corner whose legend box would cover the fewest curve samples.
fn legend_corner(
    runs: &[Vec<Vec<(f64, f64)>>],
    x: &Range<f64>,
    y: &Range<f64>,
    (pw, ph): (u32, u32),
    (lw, lh): (u32, u32),
) -> SeriesLabelPosition {
    // Legend extent as a fraction of the plotting area, plus the 5 px offset.
    let fw = ((lw + 5) as f64 / pw.max(1) as f64).min(1.0);
    let fh = ((lh + 5) as f64 / ph.max(1) as f64).min(1.0);
    let norm =
        |(px, py): (f64, f64)| ((px - x.start) / (x.end - x.start), (py - y.start) / (y.end - y.start));
    // (position, right side?, top side?) in order of preference on ties.
    let corners = [
        (SeriesLabelPosition::UpperRight, true, true),
        (SeriesLabelPosition::LowerRight, true, false),
        (SeriesLabelPosition::UpperLeft, false, true),
        (SeriesLabelPosition::LowerLeft, false, false),
    ];
    let mut counts = [0usize; 4];
    let mut count = |(u, v): (f64, f64)| {
        for (c, &(_, right, top)) in counts.iter_mut().zip(&corners) {
            let in_x = if right { u >= 1.0 - fw } else { u <= fw };
            let in_y = if top { v >= 1.0 - fh } else { v <= fh };
            if in_x && in_y {
                *c += 1;
            }
        }
    };
    const SAMPLES: usize = 16;
    for run in runs.iter().flatten() {
        for &p in run {
            count(norm(p));
        }
        for w in run.windows(2) {
            let (a, b) = (norm(w[0]), norm(w[1]));
            for k in 1..SAMPLES {
                let t = k as f64 / SAMPLES as f64;
                count((a.0 + (b.0 - a.0) * t, a.1 + (b.1 - a.1) * t));
            }
        }
    }
    let best = (0..corners.len()).min_by_key(|&i| counts[i]).unwrap_or(0);
    corners[best].0.clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

    fn curves() -> Vec<Panel> {
        let epochs = 0..20;
        let loss = |scale: f64| -> Vec<(f64, f64)> {
            epochs.clone().map(|e| (e as f64, scale * (0.7 * (-0.15 * e as f64).exp() + 0.05))).collect()
        };
        let metric = |top: f64| -> Vec<(f64, f64)> {
            epochs.clone().map(|e| (e as f64, top - 0.35 * (-0.2 * e as f64).exp())).collect()
        };
        vec![
            Panel {
                title: "loss".into(),
                y_label: "BCE".into(),
                series: vec![
                    Series { name: "train".into(), points: loss(1.0) },
                    Series { name: "validation".into(), points: loss(1.15) },
                ],
            },
            Panel {
                title: "validation AP/AUC".into(),
                y_label: "score".into(),
                series: vec![
                    Series { name: "AP".into(), points: metric(0.93) },
                    Series { name: "AUC".into(), points: metric(0.96) },
                ],
            },
        ]
    }

    fn assert_png(path: &Path, min_bytes: usize) -> Vec<u8> {
        let bytes = fs::read(path).unwrap();
        assert!(bytes.starts_with(PNG_SIGNATURE), "not a PNG: {}", path.display());
        assert!(bytes.len() > min_bytes, "implausibly small PNG: {} bytes", bytes.len());
        assert!(bytes.len() < 5 << 20, "implausibly large PNG: {} bytes", bytes.len());
        bytes
    }

    #[test]
    fn loglog_transforms_and_skips_non_positive_values() {
        let p = Panel {
            title: "t".into(),
            y_label: "y".into(),
            series: vec![Series { name: "s".into(), points: vec![(1e5, 1e6), (1e6, 0.0), (1e7, 1e4)] }],
        };
        let l = log10_panel(&p);
        let pts = &l.series[0].points;
        assert_eq!((pts[0], pts[2]), ((5.0, 6.0), (7.0, 4.0)));
        assert!(pts[1].1.is_nan(), "zero has no logarithm: a gap");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("scale.png");
        plot_loglog(&path, "scale", "events", &[p]).unwrap();
        assert_png(&path, 5_000);
    }

    #[test]
    fn writes_png() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/curves.png");
        plot_curves(&path, "TGN on wikipedia", "epoch", &curves()).unwrap();
        let bytes = assert_png(&path, 10_000);
        // IHDR: width and height, big-endian, right after the signature and chunk header.
        let w = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
        let h = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
        assert_eq!((w, h), (ROW_WIDTH, TITLE_HEIGHT + ROW_HEIGHT));
        // Only the plot is left behind: no scratch directory or temp file.
        let entries: Vec<_> = fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(entries.len(), 1);
        // Overwriting works and keeps it a valid PNG.
        plot_curves(&path, "again", "epoch", &curves()[..1]).unwrap();
        assert_png(&path, 5_000);

        if let Ok(example) = std::env::var("LINKCAST_PLOT_EXAMPLE") {
            plot_curves(Path::new(&example), "TGN on wikipedia", "epoch", &curves()).unwrap();
        }
    }

    #[test]
    fn empty_and_nan_do_not_panic() {
        let dir = tempfile::tempdir().unwrap();
        let nan = f64::NAN;
        let panels = vec![
            Panel { title: "no series".into(), y_label: "y".into(), series: vec![] },
            Panel {
                title: "empty and all-NaN".into(),
                y_label: "y".into(),
                series: vec![
                    Series { name: "empty".into(), points: vec![] },
                    Series { name: "nan".into(), points: vec![(nan, 1.0), (2.0, nan)] },
                ],
            },
            Panel {
                title: "gaps and a lone point".into(),
                y_label: "y".into(),
                series: vec![
                    Series {
                        name: "gappy".into(),
                        points: vec![(0.0, 1.0), (1.0, nan), (2.0, 0.5), (3.0, 0.4), (4.0, f64::INFINITY)],
                    },
                    Series { name: "single".into(), points: vec![(1.0, 0.7)] },
                    Series { name: String::new(), points: vec![(0.0, 3.0), (3.0, 3.0)] },
                ],
            },
            Panel {
                title: "one point only".into(),
                y_label: "y".into(),
                series: vec![Series { name: "only".into(), points: vec![(5.0, 0.0)] }],
            },
        ];
        let path = dir.path().join("degenerate.png");
        plot_curves(&path, "degenerate", "x", &panels).unwrap();
        assert_png(&path, 5_000);

        assert!(matches!(plot_curves(&path, "none", "x", &[]), Err(PlotError::NoPanels(_))));
    }

    #[test]
    fn runs_and_ranges() {
        let nan = f64::NAN;
        let runs = finite_runs(&[(0.0, 1.0), (1.0, nan), (2.0, 2.0), (3.0, 3.0), (nan, 0.0)]);
        assert_eq!(runs, vec![vec![(0.0, 1.0)], vec![(2.0, 2.0), (3.0, 3.0)]]);
        assert_eq!(padded_range(std::iter::empty()), 0.0..1.0);
        let r = padded_range([2.0].into_iter());
        assert!(r.start < 2.0 && r.end > 2.0);
        assert_eq!(tick_label(3.0), "3");
        assert_eq!(tick_label(0.25), "0.25");
        assert_eq!(tick_label(0.0), "0");
        assert_eq!(tick_label(-5.6e-17), "0");
        assert_eq!(tick_label(1e-5), "1.0e-5");
    }
}
