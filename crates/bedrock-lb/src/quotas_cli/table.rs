//! Plain-text tables for the terminal: columns padded to their widest cell.

use bedrock_lb_core::QuotaTable;

/// `rows` under `headers`, each column as wide as its widest cell, numbers and text alike
/// left-aligned; one line per row.
pub fn render(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        format!("{}\n", padded.join("  ").trim_end())
    };
    let mut out = line(headers.to_vec());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

/// An optional number, `-` when absent.
pub fn opt(value: Option<u64>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

/// The quota table as `quotas list` prints it.
pub fn quota_table(table: &QuotaTable) -> String {
    let mut buckets: Vec<_> = table.buckets.iter().collect();
    buckets.sort_by(|a, b| (&a.region, &a.model_id).cmp(&(&b.region, &b.model_id)));
    let rows: Vec<Vec<String>> = buckets
        .into_iter()
        .map(|q| {
            let mut models: Vec<&str> = table
                .routes
                .iter()
                .filter(|r| r.region == q.region && r.model_id == q.model_id)
                .map(|r| r.model.as_str())
                .collect();
            models.sort_unstable();
            vec![
                q.region.clone(),
                q.model_id.clone(),
                q.tpm.to_string(),
                opt(q.rpm),
                opt(q.tpd),
                q.output_burndown.to_string(),
                q.weight.to_string(),
                if q.enabled { "yes" } else { "no" }.to_owned(),
                if models.is_empty() {
                    "-".to_owned()
                } else {
                    models.join(",")
                },
            ]
        })
        .collect();
    render(
        &[
            "REGION", "MODEL ID", "TPM", "RPM", "TPD", "BURNDOWN", "WEIGHT", "ENABLED", "MODELS",
        ],
        &rows,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_padded_to_the_widest_cell() {
        let text = render(&["A", "B"], &[vec!["long".into(), "x".into()]]);
        assert_eq!(text, "A     B\nlong  x\n");
    }
}
