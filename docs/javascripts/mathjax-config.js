// MathJax settings for the gradstep site. pymdownx.arithmatex wraps every formula in an
// element of class "arithmatex" using \( \) and \[ \] delimiters; only those are typeset.
window.MathJax = {
  tex: {
    inlineMath: [["\\(", "\\)"]],
    displayMath: [["\\[", "\\]"]],
    processEscapes: true,
    processEnvironments: true,
  },
  options: {
    ignoreHtmlClass: ".*|",
    processHtmlClass: "arithmatex",
  },
  startup: {
    // Lets the browser check wait until every formula has been typeset.
    pageReady: () => MathJax.startup.defaultPageReady().then(() => {
      document.documentElement.dataset.mathjax = "done";
    }),
  },
};
