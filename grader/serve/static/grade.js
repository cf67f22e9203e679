// dlgrade grading app: keyboard shortcuts. Served as a file (the CSP allows no inline script).
// 1-9 apply or remove a rubric item, n / p (or the arrow keys) go to the next or previous
// answer, c writes the comment, Ctrl+Enter in the comment saves it and goes on, Escape leaves it.
(function () {
  "use strict";
  function go(id) {
    var link = document.getElementById(id);
    if (link) { window.location.assign(link.href); }
  }
  document.addEventListener("keydown", function (event) {
    var target = event.target;
    var typing = target && (target.tagName === "TEXTAREA" || target.tagName === "INPUT");
    if (typing) {
      if (target.id === "comment" && event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        document.getElementById("save-form").submit();
      } else if (event.key === "Escape") {
        target.blur();
      }
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    if (/^[1-9]$/.test(event.key)) {
      var button = document.querySelector('button.item[data-key="' + event.key + '"]');
      if (button) { event.preventDefault(); button.click(); }
    } else if (event.key === "n" || event.key === "ArrowRight") {
      go("next");
    } else if (event.key === "p" || event.key === "ArrowLeft") {
      go("prev");
    } else if (event.key === "c") {
      var comment = document.getElementById("comment");
      if (comment) { event.preventDefault(); comment.focus(); }
    }
  });
}());
