// A small SVG bar chart: enough for per-day cost and tokens, no library needed.
const NS = "http://www.w3.org/2000/svg";

function node(tag, attrs, text) {
  const element = document.createElementNS(NS, tag);
  for (const [key, value] of Object.entries(attrs)) element.setAttribute(key, value);
  if (text !== undefined) element.textContent = text;
  return element;
}

export function barChart(container, points, { format = String, alt = false } = {}) {
  // Drawn at the container's own width so labels keep their size on any screen.
  const width = Math.max(container.clientWidth || 640, 300);
  const height = 180;
  const pad = { left: 54, bottom: 22, top: 8, right: 6 };
  const svg = node("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img" });
  const max = Math.max(...points.map((p) => p.value), 0);
  svg.setAttribute("aria-label", points.length ? `${points.length} days, peak ${format(max)}` : "no data");
  const plotWidth = width - pad.left - pad.right;
  const plotHeight = height - pad.top - pad.bottom;
  svg.append(node("line", { class: "axis", x1: pad.left, y1: pad.top + plotHeight, x2: width - pad.right, y2: pad.top + plotHeight }));
  svg.append(node("text", { x: pad.left - 4, y: pad.top + 8, "text-anchor": "end" }, format(max)));
  svg.append(node("text", { x: pad.left - 4, y: pad.top + plotHeight, "text-anchor": "end" }, format(0)));
  if (!points.length) {
    svg.append(node("text", { x: width / 2, y: height / 2, "text-anchor": "middle" }, "no requests in this range"));
  }
  const slot = plotWidth / Math.max(points.length, 1);
  const every = Math.ceil(points.length / 10);
  points.forEach((point, index) => {
    const barHeight = max ? (point.value / max) * plotHeight : 0;
    const x = pad.left + index * slot + slot * 0.15;
    const bar = node("rect", {
      class: alt ? "bar alt" : "bar",
      x,
      y: pad.top + plotHeight - barHeight,
      width: Math.max(slot * 0.7, 1),
      height: Math.max(barHeight, point.value ? 1 : 0),
    });
    bar.append(node("title", {}, `${point.label}: ${format(point.value)}`));
    svg.append(bar);
    if (index % every === 0) {
      svg.append(node("text", { x: x + slot * 0.35, y: height - 6, "text-anchor": "middle" }, point.label.slice(5)));
    }
  });
  container.replaceChildren(svg);
}
