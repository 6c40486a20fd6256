//! `--targets`: the tutorial's engine selection, in Python index syntax over
//! engine ids: `3`, `-1`, `0,2`, `:-1`, `1:`, `::2`, `1:3,5`.

/// Resolves a selection against `engines` engine ids (`0..engines`).
///
/// Returns the selected ids in ascending order. Empty selections, indices out
/// of range and ids selected twice are errors.
pub(crate) fn select(spec: &str, engines: usize) -> Result<Vec<usize>, String> {
    let spec = spec.trim();
    if spec.is_empty() {
        return Err("--targets is empty (examples: ':-1', '1:', '::2', '0,2', '3')".into());
    }
    let mut ids = Vec::new();
    for item in spec.split(',') {
        let item = item.trim();
        if item.contains(':') {
            ids.extend(slice(item, engines)?);
        } else {
            let index = parse_int(item, spec)?;
            ids.push(resolve_index(index, engines).ok_or_else(|| {
                format!(
                    "--targets {spec}: engine {index} does not exist ({})",
                    describe(engines)
                )
            })?);
        }
    }
    if ids.is_empty() {
        return Err(format!(
            "--targets {spec} selects no engine ({})",
            describe(engines)
        ));
    }
    ids.sort_unstable();
    if let Some(pair) = ids.windows(2).find(|w| w[0] == w[1]) {
        return Err(format!("--targets {spec} selects engine {} twice", pair[0]));
    }
    Ok(ids)
}

fn describe(engines: usize) -> String {
    match engines {
        1 => "there is 1 engine, id 0".into(),
        n => format!("there are {n} engines, ids 0..{}", n - 1),
    }
}

fn parse_int(text: &str, spec: &str) -> Result<i64, String> {
    text.parse::<i64>().map_err(|_| {
        format!("--targets {spec}: '{text}' is not an engine index (examples: ':-1', '1:', '::2', '0,2', '3')")
    })
}

fn resolve_index(index: i64, engines: usize) -> Option<usize> {
    let n = engines as i64;
    let i = if index < 0 { index + n } else { index };
    (0..n).contains(&i).then_some(i as usize)
}

/// Python's `range(n)[start:stop:step]`.
fn slice(item: &str, engines: usize) -> Result<Vec<usize>, String> {
    let parts: Vec<&str> = item.split(':').collect();
    if parts.len() > 3 {
        return Err(format!("--targets {item}: a slice has at most two ':'"));
    }
    let field = |i: usize| -> Result<Option<i64>, String> {
        match parts.get(i).map(|s| s.trim()) {
            None | Some("") => Ok(None),
            Some(text) => parse_int(text, item).map(Some),
        }
    };
    let (start, stop, step) = (field(0)?, field(1)?, field(2)?.unwrap_or(1));
    if step == 0 {
        return Err(format!("--targets {item}: the slice step cannot be zero"));
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
    use super::select;

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
        for (spec, engines, reason) in [
            ("", 4, "empty"),
            (":-1", 1, "selects no engine"),
            ("5:", 4, "selects no engine"),
            ("4", 4, "engine 4 does not exist"),
            ("-5", 4, "engine -5 does not exist"),
            ("::0", 4, "step cannot be zero"),
            ("1:2:3:4", 4, "at most two"),
            ("a", 4, "not an engine index"),
            ("1:x", 4, "not an engine index"),
            ("0,0", 4, "twice"),
            ("0:2,1", 4, "twice"),
        ] {
            let err = select(spec, engines).expect_err(spec);
            assert!(err.contains(reason), "{spec}: {err}");
        }
    }
}
