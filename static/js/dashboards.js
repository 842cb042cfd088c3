// Dashboards: draws every <canvas data-chart="ID"> from the JSON in <script id="ID"
// type="application/json"> (Django's json_script), on page load and after each htmx panel swap.
(function () {
  "use strict";
  const palette = ["#1f5fbf", "#c2410c", "#15803d", "#7c3aed", "#b91c1c", "#0e7490", "#a16207",
    "#be185d", "#4d7c0f", "#475569", "#9333ea"];

  function draw(root) {
    if (typeof window.Chart === "undefined") return;
    root.querySelectorAll("canvas[data-chart]").forEach((canvas) => {
      const source = document.getElementById(canvas.dataset.chart);
      if (!source) return;
      const spec = JSON.parse(source.textContent);
      const existing = window.Chart.getChart(canvas);
      if (existing) existing.destroy();
      const datasets = spec.datasets.map((set, i) => Object.assign({
        borderColor: palette[i % palette.length],
        backgroundColor: palette[i % palette.length],
        borderWidth: 2,
        pointRadius: 0,
        tension: 0.2,
      }, set));
      new window.Chart(canvas, {
        type: spec.type,
        data: { labels: spec.labels, datasets: datasets },
        options: {
          animation: false,
          responsive: true,
          maintainAspectRatio: false,
          interaction: { mode: "index", intersect: false },
          scales: { y: { beginAtZero: true } },
        },
      });
    });
  }

  function destroyIn(root) {
    if (typeof window.Chart === "undefined") return;
    root.querySelectorAll("canvas[data-chart]").forEach((canvas) => {
      const chart = window.Chart.getChart(canvas);
      if (chart) chart.destroy();
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    draw(document);
    // The period and team pickers and the orphan check box apply at once; the button stays
    // for keyboard users.
    document.querySelectorAll("#period-form select, #period-form input[type=checkbox]")
      .forEach((control) => {
        control.addEventListener("change", () => control.form.submit());
      });
  });
  document.addEventListener("htmx:beforeSwap", (event) => destroyIn(event.detail.target));
  document.addEventListener("htmx:afterSwap", (event) => {
    event.detail.target.removeAttribute("aria-busy");
    draw(event.detail.target);
  });
})();
