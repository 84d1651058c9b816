//! Frame filters with pprof's semantics: `drop_frames`/`keep_frames` from the
//! profile, and the `focus`, `ignore`, `hide` and `show` regular expressions.

use regex::Regex;

use super::ReportError;
use super::stack_arena::StackArena;
use super::view::{LineInfo, LocationInfo, View};

/// Regular expressions matched against each frame's function name, its source
/// file name and its mapping's file name.
#[derive(Debug, Clone, Default)]
pub struct Filters {
    /// Keep only samples with at least one matching frame.
    pub focus: Option<Regex>,
    /// Drop samples with any matching frame (wins over `focus`).
    pub ignore: Option<Regex>,
    /// Remove matching frames from the stacks.
    pub hide: Option<Regex>,
    /// Keep only matching frames in the stacks.
    pub show: Option<Regex>,
}

impl Filters {
    /// The filters as pprof lists them under "Active filters:" (`focus=RE`…).
    pub fn descriptions(&self) -> Vec<String> {
        [("focus", &self.focus), ("ignore", &self.ignore), ("hide", &self.hide), ("show", &self.show)]
            .into_iter()
            .filter_map(|(k, re)| re.as_ref().map(|re| format!("{k}={}", re.as_str())))
            .collect()
    }
}

/// Which filters matched at least one frame: pprof warns about the others.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FilterMatches {
    /// `focus` matched a frame.
    pub focus: bool,
    /// `ignore` matched a frame.
    pub ignore: bool,
    /// `hide` matched a frame.
    pub hide: bool,
    /// `show` matched a frame.
    pub show: bool,
}

const UNSET: u8 = 0;
const FOCUSED: u8 = 1;
const IGNORED: u8 = 2;

/// Per function and per mapping, whether a regex matches its names.
struct Matcher {
    functions: Vec<bool>,
    mappings: Vec<bool>,
}

impl Matcher {
    fn new(view: &View, re: &Regex) -> Self {
        Matcher {
            functions: view
                .functions
                .iter()
                .map(|f| re.is_match(view.str(f.name)) || re.is_match(view.str(f.filename)))
                .collect(),
            mappings: view.mappings.iter().map(|m| re.is_match(view.str(m.file))).collect(),
        }
    }

    fn line(&self, l: &LineInfo) -> bool {
        self.functions[l.function as usize]
    }

    fn mapping(&self, loc: &LocationInfo) -> bool {
        self.mappings.get(loc.mapping as usize).copied().unwrap_or(false)
    }

    fn location(&self, view: &View, loc: &LocationInfo) -> bool {
        view.location_lines(loc).iter().any(|l| self.line(l)) || self.mapping(loc)
    }
}

impl View {
    /// Applies the profile's own `drop_frames`/`keep_frames` (pprof's
    /// `RemoveUninteresting`): frames from the first one whose simplified function
    /// name matches `drop_frames` (and not `keep_frames`) towards the leaf are cut.
    pub fn prune_uninteresting(&mut self) -> Result<(), ReportError> {
        let drop = self.str(self.drop_frames).to_string();
        if drop.is_empty() {
            return Ok(());
        }
        let compile = |what: &str, s: &str| {
            Regex::new(&format!("^({s})$")).map_err(|e| ReportError::Regex(format!("{what} {s:?}: {e}")))
        };
        let drop = compile("drop_frames", &drop)?;
        let keep = match self.str(self.keep_frames) {
            "" => None,
            k => Some(compile("keep_frames", k)?),
        };
        let dropped: Vec<bool> = self
            .functions
            .iter()
            .map(|f| {
                let name = self.str(f.name);
                if name.is_empty() {
                    return false;
                }
                let simple = simplify_function_name(name);
                drop.is_match(simple) && !keep.as_ref().is_some_and(|k| k.is_match(simple))
            })
            .collect();
        let mut prune = vec![false; self.locations.len()];
        let mut prune_beneath = vec![false; self.locations.len()];
        for (i, loc) in self.locations.iter_mut().enumerate() {
            let lines = &self.lines[loc.lines_start as usize..(loc.lines_start + loc.lines_len) as usize];
            if let Some(at) = lines.iter().rposition(|l| dropped[l.function as usize]) {
                prune_beneath[i] = true;
                if at + 1 == lines.len() {
                    prune[i] = true;
                } else {
                    loc.lines_start += at as u32 + 1;
                    loc.lines_len -= at as u32 + 1;
                }
            }
        }
        for s in &mut self.samples {
            let stack = self.stacks.get(&s.stack);
            let mut found_user = false;
            for i in (0..stack.len()).rev() {
                let id = stack[i] as usize;
                if !prune[id] && !prune_beneath[id] {
                    found_user = true;
                    continue;
                }
                if !found_user {
                    continue;
                }
                let cut = if prune[id] { i + 1 } else { i };
                s.stack.skip(cut as u32);
                break;
            }
        }
        Ok(())
    }

    /// Applies `focus`, `ignore`, `hide` and `show` as pprof does; samples left
    /// without frames are dropped (so are samples that had none).
    pub fn apply_filters(&mut self, filters: &Filters) -> FilterMatches {
        let mut matched = FilterMatches::default();
        let focus = filters.focus.as_ref().map(|re| Matcher::new(self, re));
        let ignore = filters.ignore.as_ref().map(|re| Matcher::new(self, re));
        let hide = filters.hide.as_ref().map(|re| Matcher::new(self, re));
        let show = filters.show.as_ref().map(|re| Matcher::new(self, re));

        let n_loc = self.locations.len();
        let mut state = vec![UNSET; n_loc];
        let mut hidden = vec![false; n_loc];
        let mut any_hidden = false;
        for i in 0..n_loc {
            let loc = self.locations[i];
            if ignore.as_ref().is_some_and(|m| m.location(self, &loc)) {
                matched.ignore = true;
                state[i] = IGNORED;
            } else if focus.as_ref().is_none_or(|m| m.location(self, &loc)) {
                matched.focus = true;
                state[i] = FOCUSED;
            }
            let mut lines: Option<Vec<LineInfo>> = None;
            if let Some(m) = hide.as_ref().filter(|m| m.location(self, &loc)) {
                matched.hide = true;
                lines = Some(if m.mapping(&loc) {
                    Vec::new()
                } else {
                    let all = self.location_lines(&loc);
                    all.iter().copied().filter(|l| !m.line(l)).collect()
                });
            }
            if let Some(m) = &show {
                let current = lines.take().unwrap_or_else(|| self.location_lines(&loc).to_vec());
                let kept: Vec<LineInfo> = if m.mapping(&loc) {
                    current
                } else {
                    current.into_iter().filter(|l| m.line(l)).collect()
                };
                matched.show |= !kept.is_empty();
                lines = Some(kept);
            }
            if let Some(lines) = lines {
                if lines.is_empty() {
                    hidden[i] = true;
                    any_hidden = true;
                }
                let start = self.lines.len() as u32;
                self.lines.extend_from_slice(&lines);
                self.locations[i].lines_start = start;
                self.locations[i].lines_len = lines.len() as u32;
            }
        }

        let simple = ignore.is_none() && focus.is_none();
        let n = self.sample_types.len();
        let mut new_stacks = StackArena::default();
        let mut kept = 0;
        for i in 0..self.samples.len() {
            let mut s = self.samples[i];
            let stack = self.stack(&s);
            let keep = if simple {
                !stack.is_empty()
            } else {
                let mut focused = false;
                let mut ignored = false;
                for &l in stack {
                    match state[l as usize] {
                        FOCUSED => focused = true,
                        IGNORED => {
                            ignored = true;
                            break;
                        }
                        _ => {}
                    }
                }
                focused && !ignored
            };
            if !keep {
                continue;
            }
            if any_hidden {
                let visible: Vec<u32> = stack.iter().copied().filter(|&l| !hidden[l as usize]).collect();
                if visible.is_empty() {
                    continue;
                }
                s.stack = new_stacks.add(visible.into_iter());
            }
            self.samples[kept] = s;
            self.values.copy_within(i * n..(i + 1) * n, kept * n);
            kept += 1;
        }
        self.samples.truncate(kept);
        self.values.truncate(kept * n);
        if any_hidden {
            self.stacks = new_stacks;
        }
        matched
    }
}

/// The function name without its argument list (pprof's `simplifyFunc`): cut at
/// the first `(` that does not open `(anonymous namespace)` or `operator()`.
pub(crate) fn simplify_function_name(name: &str) -> &str {
    const RESERVED: [&str; 2] = ["(anonymous namespace)", "operator()"];
    let name = name.strip_prefix('.').unwrap_or(name);
    let bytes = name.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let rest = &name[i..];
        if let Some(r) = RESERVED.iter().find(|r| rest.starts_with(**r)) {
            i += r.len();
            continue;
        }
        if bytes[i] == b'(' {
            return &name[..i];
        }
        i += rest.chars().next().map_or(1, char::len_utf8);
    }
    name
}

#[cfg(test)]
mod tests {
    use super::simplify_function_name as s;

    #[test]
    fn simplify_keeps_reserved_names() {
        assert_eq!(s("foo(int)"), "foo");
        assert_eq!(s(".foo"), "foo");
        assert_eq!(s("(anonymous namespace)::f(int)"), "(anonymous namespace)::f");
        assert_eq!(s("A::operator()(int)"), "A::operator()");
        assert_eq!(s("plain"), "plain");
    }
}
