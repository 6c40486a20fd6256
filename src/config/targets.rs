//! `--targets`: the tutorial's engine selection, in Python index syntax over
//! engine ids: `3`, `-1`, `0,2`, `:-1`, `1:`, `::2`, `1:3,5`.

const EXAMPLES: &str = "examples: ':-1', '1:', '::2', '0,2', '3'";

/// Why a `--targets` selection is refused.
#[derive(Debug, PartialEq, thiserror::Error)]
pub(crate) enum TargetsError {
    #[error("--targets is empty ({EXAMPLES})")]
    Empty,
    #[error("--targets {spec}: '{text}' is not an engine index ({EXAMPLES})")]
    NotAnIndex { spec: String, text: String },
    #[error("--targets {spec}: a slice has at most two ':'")]
    TooManyColons { spec: String },
    #[error("--targets {spec}: the slice step cannot be zero")]
    ZeroStep { spec: String },
    #[error("--targets {spec}: engine {index} does not exist ({})", super::describe_engines(*.engines))]
    NoSuchEngine {
        spec: String,
        index: i64,
        engines: usize,
    },
    #[error("--targets {spec} selects no engine ({})", super::describe_engines(*.engines))]
    NoEngine { spec: String, engines: usize },
    #[error("--targets {spec} selects engine {engine} twice")]
    Twice { spec: String, engine: usize },
}

/// Resolves a selection against `engines` engine ids (`0..engines`).
///
/// Returns the selected ids in ascending order. Empty selections, indices out
/// of range and ids selected twice are errors.
pub(crate) fn select(spec: &str, engines: usize) -> Result<Vec<usize>, TargetsError> {
    let spec = spec.trim();
    if spec.is_empty() {
        return Err(TargetsError::Empty);
    }
    let mut ids = Vec::new();
    for item in spec.split(',') {
        let item = item.trim();
        if item.contains(':') {
            ids.extend(slice(item, engines)?);
        } else {
            let index = parse_int(item, spec)?;
            ids.push(
                resolve_index(index, engines).ok_or_else(|| TargetsError::NoSuchEngine {
                    spec: spec.into(),
                    index,
                    engines,
                })?,
            );
        }
    }
    if ids.is_empty() {
        return Err(TargetsError::NoEngine {
            spec: spec.into(),
            engines,
        });
    }
    ids.sort_unstable();
    if let Some(pair) = ids.windows(2).find(|w| w[0] == w[1]) {
        return Err(TargetsError::Twice {
            spec: spec.into(),
            engine: pair[0],
        });
    }
    Ok(ids)
}

fn parse_int(text: &str, spec: &str) -> Result<i64, TargetsError> {
    text.parse::<i64>().map_err(|_| TargetsError::NotAnIndex {
        spec: spec.into(),
        text: text.into(),
    })
}

fn resolve_index(index: i64, engines: usize) -> Option<usize> {
    let n = engines as i64;
    let i = if index < 0 { index + n } else { index };
    (0..n).contains(&i).then_some(i as usize)
}

/// Python's `range(n)[start:stop:step]`.
fn slice(item: &str, engines: usize) -> Result<Vec<usize>, TargetsError> {
    let parts: Vec<&str> = item.split(':').collect();
    if parts.len() > 3 {
        return Err(TargetsError::TooManyColons { spec: item.into() });
    }
    let field = |i: usize| -> Result<Option<i64>, TargetsError> {
        match parts.get(i).map(|s| s.trim()) {
            None | Some("") => Ok(None),
            Some(text) => parse_int(text, item).map(Some),
        }
    };
    let (start, stop, step) = (field(0)?, field(1)?, field(2)?.unwrap_or(1));
    if step == 0 {
        return Err(TargetsError::ZeroStep { spec: item.into() });
    }
    let n = engines as i64;
    // Clamp like CPython's PySlice_AdjustIndices.
    let adjust = |value: Option<i64>, default: i64| match value {
        None => default,
        Some(v) if v < 0 => (v + n).max(if step < 0 { -1 } else { 0 }),
        Some(v) => v.min(if step < 0 { n - 1 } else { n }),
    };
    let (lo, hi) = if step > 0 { (0, n) } else { (n - 1, -1) };
    let (mut i, stop) = (adjust(start, lo), adjust(stop, hi));
    let mut out = Vec::new();
    while (step > 0 && i < stop) || (step < 0 && i > stop) {
        out.push(i as usize);
        // A step past the end of i64 ends the slice, as it would in Python.
        match i.checked_add(step) {
            Some(next) => i = next,
            None => break,
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::{select, TargetsError};

    #[test]
    fn python_slices_over_engine_ids() {
        for (spec, engines, want) in [
            (":", 4, vec![0, 1, 2, 3]),
            (":-1", 4, vec![0, 1, 2]),
            ("1:", 4, vec![1, 2, 3]),
            ("::2", 4, vec![0, 2]),
            ("1::2", 5, vec![1, 3]),
            ("::-1", 3, vec![0, 1, 2]),
            ("-2:", 4, vec![2, 3]),
            ("0,2", 4, vec![0, 2]),
            ("2, 0", 4, vec![0, 2]),
            ("3", 4, vec![3]),
            ("-1", 4, vec![3]),
            ("0:2,3", 4, vec![0, 1, 3]),
            ("-100:100", 2, vec![0, 1]),
            (":-1", 2, vec![0]),
            ("1::9223372036854775807", 3, vec![1]),
            ("::-9223372036854775808", 3, vec![2]),
        ] {
            assert_eq!(select(spec, engines), Ok(want), "{spec} of {engines}");
        }
    }

    #[test]
    fn bad_selections_are_explained() {
        use TargetsError::*;
        let s = |spec: &str| spec.to_string();
        for (spec, engines, error) in [
            ("", 4, Empty),
            (
                ":-1",
                1,
                NoEngine {
                    spec: s(":-1"),
                    engines: 1,
                },
            ),
            (
                "5:",
                4,
                NoEngine {
                    spec: s("5:"),
                    engines: 4,
                },
            ),
            (
                "4",
                4,
                NoSuchEngine {
                    spec: s("4"),
                    index: 4,
                    engines: 4,
                },
            ),
            (
                "-5",
                4,
                NoSuchEngine {
                    spec: s("-5"),
                    index: -5,
                    engines: 4,
                },
            ),
            ("::0", 4, ZeroStep { spec: s("::0") }),
            ("1:2:3:4", 4, TooManyColons { spec: s("1:2:3:4") }),
            (
                "a",
                4,
                NotAnIndex {
                    spec: s("a"),
                    text: s("a"),
                },
            ),
            (
                "1:x",
                4,
                NotAnIndex {
                    spec: s("1:x"),
                    text: s("x"),
                },
            ),
            (
                "0,0",
                4,
                Twice {
                    spec: s("0,0"),
                    engine: 0,
                },
            ),
            (
                "0:2,1",
                4,
                Twice {
                    spec: s("0:2,1"),
                    engine: 1,
                },
            ),
        ] {
            assert_eq!(select(spec, engines), Err(error), "{spec}");
        }
        // The message a user sees.
        assert_eq!(
            select("4", 4).unwrap_err().to_string(),
            "--targets 4: engine 4 does not exist (there are 4 engines, ids 0..3)"
        );
        assert_eq!(
            select("", 1).unwrap_err().to_string(),
            "--targets is empty (examples: ':-1', '1:', '::2', '0,2', '3')"
        );
    }
}
