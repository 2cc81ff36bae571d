// Save a result from the browser: JSON as is, HTML as a self-contained page.

export function download(filename: string, content: string | Blob, type: string): void {
  const url = URL.createObjectURL(content instanceof Blob ? content : new Blob([content], { type }));
  const a = document.createElement("a");
  a.href = url;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}

/** A standalone HTML page: the rendered view (canvases as images), inline styles, and the JSON. */
export function standaloneHtml(title: string, view: HTMLElement, data: unknown): string {
  const clone = view.cloneNode(true) as HTMLElement;
  const source = view.querySelectorAll("canvas");
  clone.querySelectorAll("canvas").forEach((c, i) => {
    const img = document.createElement("img");
    img.src = source[i].toDataURL("image/png");
    img.style.cssText = source[i].style.cssText;
    img.width = source[i].clientWidth || source[i].width;
    c.replaceWith(img);
  });
  clone.querySelectorAll("button, select, input").forEach((el) => el.remove());
  const css = Array.from(document.styleSheets)
    .map((sheet) => {
      try {
        return Array.from(sheet.cssRules).map((r) => r.cssText).join("\n");
      } catch {
        return "";
      }
    })
    .join("\n");
  const json = JSON.stringify(data).replace(/</g, "\\u003c");
  return `<!doctype html><html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title><style>${css}</style></head>
<body class="export"><h1>${escapeHtml(title)}</h1>${clone.outerHTML}
<script type="application/json" id="explanation">${json}</script></body></html>`;
}
