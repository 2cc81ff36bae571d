// Lasso selection on a canvas: the free-hand polygon, drawn while dragging, and which points
// fall inside it (even–odd ray casting).

export type Polygon = [number, number][];

/** Whether (x, y) is inside the closed polygon. */
export function inside(x: number, y: number, poly: Polygon): boolean {
  let yes = false;
  for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
    const [xi, yi] = poly[i];
    const [xj, yj] = poly[j];
    if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) yes = !yes;
  }
  return yes;
}

/** The polygon as a dashed outline with a light fill. */
export function drawLasso(ctx: CanvasRenderingContext2D, poly: Polygon): void {
  if (poly.length < 2) return;
  ctx.save();
  ctx.beginPath();
  ctx.moveTo(poly[0][0], poly[0][1]);
  for (const [x, y] of poly.slice(1)) ctx.lineTo(x, y);
  ctx.closePath();
  ctx.fillStyle = "rgba(43, 89, 195, 0.08)";
  ctx.fill();
  ctx.setLineDash([4, 3]);
  ctx.strokeStyle = "#2b59c3";
  ctx.lineWidth = 1.5;
  ctx.stroke();
  ctx.restore();
}
