//! Go's `text/tabwriter` with right alignment, as pprof's `-tags` uses it: cells
//! end at tabs, the text after a line's last tab is not a cell, and a column's
//! width is set per block of consecutive lines that have that column.

/// Aligns `text` (tab-separated cells, newline-terminated lines) to the right,
/// each column as wide as its widest cell plus `padding`.
pub(crate) fn align_right(text: &str, padding: usize) -> String {
    let lines: Vec<Vec<&str>> = text.split('\n').map(|l| l.split('\t').collect()).collect();
    let mut out = String::with_capacity(text.len() * 2);
    let mut widths = Vec::new();
    format_block(&lines, 0, lines.len(), &mut widths, padding, &mut out);
    out
}

fn width(cell: &str) -> usize {
    cell.chars().count()
}

/// Go's `Writer.format`: finds the blocks of lines that have a cell in the next
/// column, fixes that column's width per block, and recurses.
fn format_block(
    lines: &[Vec<&str>],
    mut line0: usize,
    line1: usize,
    widths: &mut Vec<usize>,
    padding: usize,
    out: &mut String,
) {
    let column = widths.len();
    let mut this = line0;
    while this < line1 {
        if column + 1 >= lines[this].len() {
            this += 1;
            continue;
        }
        write_lines(lines, line0, this, widths, out);
        line0 = this;
        let mut w = 0;
        while this < line1 && column + 1 < lines[this].len() {
            w = w.max(width(lines[this][column]) + padding);
            this += 1;
        }
        widths.push(w);
        format_block(lines, line0, this, widths, padding, out);
        widths.pop();
        line0 = this;
    }
    write_lines(lines, line0, line1, widths, out);
}

fn write_lines(lines: &[Vec<&str>], from: usize, to: usize, widths: &[usize], out: &mut String) {
    for (i, line) in lines.iter().enumerate().take(to).skip(from) {
        for (j, cell) in line.iter().enumerate() {
            if j < widths.len() {
                let pad = widths[j].saturating_sub(width(cell));
                out.extend(std::iter::repeat_n(' ', pad));
            }
            out.push_str(cell);
        }
        if i + 1 != lines.len() {
            out.push('\n');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::align_right;

    #[test]
    fn right_aligns_blocks() {
        let text = "bytes:\t Total 10\n \t1.0B (10%):\t 1kB\n \t22.0B (90%):\t 2kB\n\n";
        assert_eq!(
            align_right(text, 1),
            " bytes: Total 10\n         1.0B (10%): 1kB\n        22.0B (90%): 2kB\n\n"
        );
    }
}
