//! `heapprof web` in a real browser: Debian's Chromium, headless, driven over
//! the DevTools protocol (tests/common/chromium.rs) against a real server on
//! 127.0.0.1. Each view is loaded, used as a person would (clicks, typing,
//! menus) and checked against `go tool pprof`'s reports on the same profiles;
//! no page may log a console error. Screenshots of every view land in
//! target/web-screenshots/ for a reviewer. Skipped with a reason when Chromium
//! is missing, except under CI. Each test bounds every wait (20 s) and takes a
//! few seconds.

#[path = "common/chromium.rs"]
mod chromium;
mod common;
#[path = "common/go_series.rs"]
mod go_series;
#[path = "common/web_server.rs"]
mod web_server;

use chromium::{Browser, chromium_or_skip};
use serde_json::Value;

/// The page has its first data.
const READY: &str = "document.body.dataset.ready === 'true'";

/// The function of the first row of a `go tool pprof -top` reference file.
fn reference_first(file: &str) -> String {
    let text = std::fs::read_to_string(common::go_heap().join(file)).expect("reference output");
    let row = common::top_rows(&text).into_iter().next().expect("a first row");
    row.split_whitespace().last().expect("a name").to_string()
}

/// The total of a reference: "Showing nodes accounting for X, P% of TOTAL total".
fn reference_total(file: &str) -> String {
    let text = std::fs::read_to_string(common::go_heap().join(file)).expect("reference output");
    let line = text.lines().find(|l| l.starts_with("Showing nodes")).expect("a Showing line");
    line.rsplit(" of ").next().and_then(|t| t.strip_suffix(" total")).expect("a total").to_string()
}

fn first_row_name(b: &mut Browser) -> String {
    b.eval("document.querySelector('#top-table tbody tr td.name')?.textContent ?? ''")
        .as_str()
        .unwrap_or("")
        .into()
}

fn show_tab(b: &mut Browser, tab: &str) {
    b.click(&format!("document.getElementById('tab-{tab}')"), None);
    b.wait_for(&format!("!document.getElementById('{tab}').hidden"), &format!("the {tab} tab"));
}

fn assert_no_errors(b: &mut Browser) {
    let errors = b.take_errors();
    assert!(errors.is_empty(), "the page logged errors:\n{}", errors.join("\n"));
}

/// The flame graph's frame whose function is `name` (JS expression).
fn frame(name: &str) -> String {
    format!(
        "[...document.getElementById('flame-svg').contentDocument.querySelectorAll('#frames > g')]\
         .find(g => g.querySelector('title').textContent.startsWith('{name} ('))"
    )
}

const FLAME_OBJECT: &str = "document.getElementById('flame-svg')";

#[test]
fn top_table_flame_graph_and_call_graph() {
    let Some(chromium) = chromium_or_skip("top_table_flame_graph_and_call_graph") else { return };
    let web = web_server::start_in(&common::go_heap(), &["default/full.pb.gz"]);
    let mut b = Browser::launch(&chromium);
    b.open(&web.base, READY);

    // Top: the same first function and total as go tool pprof.
    assert_eq!(first_row_name(&mut b), reference_first("default/full.top.inuse_space.txt"));
    let legend = b.eval("document.getElementById('legend').textContent");
    let total = reference_total("default/full.top.inuse_space.txt");
    assert!(legend.as_str().unwrap().contains(&format!("of {total} total")), "{legend}");
    b.screenshot("top");

    // Another sample index: other totals, other first function.
    b.choose("si", "alloc_space");
    let total = reference_total("default/full.top.alloc_space.txt");
    b.wait_for(
        &format!("document.getElementById('legend').textContent.includes('of {total} total')"),
        "alloc_space",
    );
    assert_eq!(first_row_name(&mut b), reference_first("default/full.top.alloc_space.txt"));

    // Sorting by name puts the rows in alphabetical order.
    b.click("document.querySelector('th[data-key=name]')", None);
    let names = b.eval("[...document.querySelectorAll('#top-table td.name')].map(td => td.textContent)");
    let names: Vec<&str> = names.as_array().unwrap().iter().filter_map(Value::as_str).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    b.choose("si", "inuse_space");
    b.wait_for("document.getElementById('legend').textContent.includes('inuse_space')", "inuse_space");

    // Flame graph: the expected frames, zoom on click, search, reset.
    show_tab(&mut b, "flame");
    b.wait_for(&frame("main.fillCache"), "the flame graph's frames");
    for name in ["main.bigBuffers", "main.fillCache", "encoding/json.Marshal", "runtime.main"] {
        assert_eq!(b.eval(&format!("!!{}", frame(name))), Value::Bool(true), "no frame {name}");
    }
    b.screenshot("flame");
    b.click(&format!("{}.querySelector('rect')", frame("main.fillCache")), Some(FLAME_OBJECT));
    b.wait_for(
        &format!("{}.classList.contains('hide')", frame("main.bigBuffers")),
        "the zoom on main.fillCache",
    );
    let widths = b.eval(&format!(
        "[{f}.querySelector('rect').getBoundingClientRect().width, \
          {o}.contentDocument.getElementById('frames').getBoundingClientRect().width]",
        f = frame("main.fillCache"),
        o = FLAME_OBJECT
    ));
    let (w, full) = (widths[0].as_f64().unwrap(), widths[1].as_f64().unwrap());
    assert!(w > 0.95 * full, "the zoomed frame is {w} px of {full}");
    b.screenshot("flame-zoomed");
    // Only the frames left visible by the zoom are searched.
    b.type_into("flame-term", "fill", true);
    b.wait_for("document.getElementById('flame-matched').textContent.startsWith('Matched')", "the search");
    let highlighted = b.eval(&format!(
        "[...{FLAME_OBJECT}.contentDocument.querySelectorAll('#frames rect')]\
         .filter(r => r.getAttribute('fill') === 'rgb(230,0,230)').length"
    ));
    assert!(highlighted.as_u64().unwrap() >= 1, "no frame highlighted");
    b.screenshot("flame-search");
    b.click("document.getElementById('flame-reset')", None);
    b.wait_for(&format!("!{}.classList.contains('hide')", frame("main.bigBuffers")), "the reset");
    let still = b.eval(&format!(
        "[...{FLAME_OBJECT}.contentDocument.querySelectorAll('#frames rect')]\
         .filter(r => r.getAttribute('fill') === 'rgb(230,0,230)').length"
    ));
    assert_eq!(still.as_u64(), Some(0));

    // Call graph (Graphviz): nodes for the functions; a click focuses on one.
    show_tab(&mut b, "graph");
    b.wait_for("document.querySelector('#graph-svg g.node[data-name=\"main.fillCache\"]')", "the call graph");
    assert_eq!(
        b.eval("!!document.querySelector('#graph-svg g.node[data-name=\"main.bigBuffers\"]')"),
        Value::Bool(true)
    );
    b.screenshot("callgraph");
    b.click("document.querySelector('#graph-svg g.node[data-name=\"main.fillCache\"]')", None);
    b.wait_for(
        "!document.querySelector('#graph-svg g.node[data-name=\"main.bigBuffers\"]') \
         && document.querySelector('#graph-svg g.node[data-name=\"main.fillCache\"]')",
        "the focus on main.fillCache",
    );
    assert_eq!(b.eval("document.getElementById('focus').value"), Value::from("^main\\.fillCache$"));
    b.screenshot("callgraph-focused");
    show_tab(&mut b, "top");
    // The focus applies to every view: main.bigBuffers is not on main.fillCache's paths.
    b.wait_for(
        "(() => { const names = [...document.querySelectorAll('#top-table td.name')].map(td => td.textContent); \
         return names.includes('main.fillCache') && !names.includes('main.bigBuffers'); })()",
        "the focused top table",
    );

    // Peek from the top table.
    b.click(
        "[...document.querySelectorAll('#top-table td.actions a')].find(a => a.textContent === 'peek')",
        None,
    );
    b.wait_for("document.querySelector('#peek-table tr.entry')", "the peek view");
    b.screenshot("peek");
    assert_no_errors(&mut b);
}

#[test]
fn source_view_shows_lines_or_says_why_not() {
    let Some(chromium) = chromium_or_skip("source_view_shows_lines_or_says_why_not") else { return };
    // The profile names the file heapcorpus/main.go; it is main.go here.
    let web = web_server::start_in(&common::go_heap(), &["--trim-path", "heapcorpus", "default/full.pb.gz"]);
    let mut b = Browser::launch(&chromium);
    b.open(&web.base, READY);
    b.click(
        "[...document.querySelectorAll('#top-table tr')].find(tr => tr.querySelector('td.name')?.textContent === 'main.fillCache')\
         .querySelector('a:last-child')",
        None,
    );
    b.wait_for("document.querySelector('#source-list tr.hot')", "the source lines");
    // The line with samples, and its text as in the file.
    let source = std::fs::read_to_string(common::go_heap().join("main.go")).unwrap();
    let hot = b.eval(
        "[...document.querySelectorAll('#source-list tr.hot')].map(tr => [...tr.children].map(td => td.textContent))",
    );
    let hot = hot.as_array().unwrap();
    assert_eq!(hot.len(), 1, "{hot:?}");
    let line: usize = hot[0][2].as_str().unwrap().parse().unwrap();
    assert_eq!(hot[0][3].as_str().unwrap(), source.lines().nth(line - 1).unwrap());
    assert!(hot[0][3].as_str().unwrap().contains("make([]byte, 2048)"), "{hot:?}");
    // The same figures as `heapprof list`.
    let list =
        common::heapprof(&["list", "--trim-path", "heapcorpus", "main\\.fillCache", "default/full.pb.gz"]);
    let text = common::stdout(&list);
    assert!(text.contains(&format!("{:>6}:", line)), "{text}");
    assert_eq!(b.eval("document.querySelectorAll('#source-list .notice').length"), Value::from(0));
    b.screenshot("source");
    assert_no_errors(&mut b);
    drop(web);

    // Without --trim-path the file is not found: the view says so.
    let web = web_server::start_in(&common::go_heap(), &["default/full.pb.gz"]);
    b.open(&web.base, READY);
    show_tab(&mut b, "source");
    b.type_into("source-re", "main\\.fillCache", true);
    b.wait_for("document.querySelector('#source-list .notice')", "the not-found notice");
    let notice = b.eval("document.querySelector('#source-list .notice').textContent");
    assert!(
        notice.as_str().unwrap().starts_with("Source file heapcorpus/main.go not found under "),
        "{notice}"
    );
    b.screenshot("source-not-found");
    assert_no_errors(&mut b);
}

#[test]
fn diff_against_a_base_shows_growth_in_red() {
    let Some(chromium) = chromium_or_skip("diff_against_a_base_shows_growth_in_red") else { return };
    let web =
        web_server::start_in(&common::go_heap(), &["--base", "default/cache.pb.gz", "default/full.pb.gz"]);
    let mut b = Browser::launch(&chromium);
    b.open(&web.base, READY);
    let grown = reference_first("default/full-minus-cache.top.inuse_space.txt");
    assert_eq!(first_row_name(&mut b), grown);
    let cell = b.eval(
        "(() => { const td = document.querySelector('#top-table tbody tr td'); \
         return [td.className, getComputedStyle(td).color]; })()",
    );
    assert_eq!(cell[0], "grew");
    assert!(reddish(cell[1].as_str().unwrap()), "{cell}");
    b.screenshot("diff-top");

    show_tab(&mut b, "flame");
    b.wait_for(&frame(&grown), "the differential flame graph");
    let fill = b.eval(&format!("{}.querySelector('rect').getAttribute('fill')", frame(&grown)));
    assert!(reddish(fill.as_str().unwrap()), "{grown} is drawn in {fill}");
    b.screenshot("diff-flame");
    assert_no_errors(&mut b);
}

/// `rgb(r, g, b)` with red well above green and blue.
fn reddish(css: &str) -> bool {
    let digits: Vec<f64> = css
        .trim_start_matches("rgb(")
        .trim_end_matches(')')
        .split(',')
        .filter_map(|x| x.trim().parse().ok())
        .collect();
    matches!(digits[..], [r, g, b] if r > g + 50.0 && r > b + 50.0)
}

#[test]
fn timeline_plots_a_series_and_opens_its_profiles() {
    let Some(chromium) = chromium_or_skip("timeline_plots_a_series_and_opens_its_profiles") else { return };
    let Some(go) = common::go_or_skip("timeline_plots_a_series_and_opens_its_profiles") else { return };
    let work = tempfile::tempdir().unwrap();
    let series = work.path().join("profiles");
    std::fs::create_dir_all(&series).unwrap();
    go_series::write_leaky_series(&go, work.path(), &series);
    let files = std::fs::read_dir(&series).unwrap().count();

    let web = web_server::start_in(work.path(), &["profiles"]);
    let mut b = Browser::launch(&chromium);
    b.open(&web.base, READY);
    // A series opens on its newest profile, not on a sum of snapshots.
    let shown = b.eval("document.getElementById('profile').selectedOptions[0].textContent");
    assert!(shown.as_str().unwrap().ends_with("step-17.heap.pb.gz"), "{shown}");
    show_tab(&mut b, "timeline");
    b.wait_for("document.querySelectorAll('#timeline-chart circle.point').length > 0", "the timeline");
    let points = b.eval("document.querySelectorAll('#timeline-chart circle.point').length");
    assert_eq!(points.as_u64(), Some(files as u64));
    // The leak suspect of `heapprof trend`, first.
    let suspect = b.eval("document.querySelector('#suspects tbody td.name').textContent");
    assert!(suspect.as_str().unwrap().starts_with("main.leak"), "{suspect}");
    // Later profiles hold more: the points rise from left to right.
    let ys = b.eval(
        "[...document.querySelectorAll('#timeline-chart circle.point')].map(c => +c.getAttribute('cy'))",
    );
    let ys: Vec<f64> = ys.as_array().unwrap().iter().filter_map(Value::as_f64).collect();
    assert!(ys.last() < ys.first(), "{ys:?}");
    b.screenshot("timeline");

    // A click on the fifth point opens that profile in the top table.
    b.click("document.querySelectorAll('#timeline-chart circle.point')[4]", None);
    b.wait_for("!document.getElementById('top').hidden", "the top table");
    let id = b.eval("document.querySelectorAll('#timeline-chart circle.point')[4].dataset.id");
    assert_eq!(b.eval("document.getElementById('profile').value"), id);
    let chosen = b.eval("document.getElementById('profile').selectedOptions[0].textContent");
    assert!(chosen.as_str().unwrap().ends_with("step-04.heap.pb.gz"), "{chosen}");
    b.wait_for("document.querySelectorAll('#top-table td.name').length > 0", "the profile's top table");
    b.screenshot("timeline-opened");
    assert_no_errors(&mut b);
}
