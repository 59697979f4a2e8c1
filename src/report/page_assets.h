// The fixed parts of report.html: its style sheet and the two scripts that turn the inlined
// figure specs into plotly figures. Kept apart from the C++ that assembles the page so the
// JavaScript can be read (and diffed) as one piece.
#pragma once

namespace closerlook {

// The page's CSS.
extern const char* const kReportCss;

// Runs first (in <head>): records window errors, unhandled rejections, console.error and
// console.warn into <pre id="cl-errors"> and counts them in <html data-errors="N">, so a headless
// browser's --dump-dom shows whether the page ran cleanly.
extern const char* const kReportErrorHooksJs;

// Runs last: reads <script id="cl-figure-data"> (the figure specs), draws every plot with
// Plotly.newPlot and, when all have resolved, sets <body data-render-done="1"
// data-plots-rendered="N"> ("failed" if plotly is missing or a plot threw).
extern const char* const kReportRenderJs;

}  // namespace closerlook
