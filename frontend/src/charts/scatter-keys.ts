// Keyboard access to a scatter plot's points: an arrow key moves to the nearest point in that
// direction (within 45° of it, on screen), so every point can be reached without a mouse; the
// first press starts at the point nearest the plot's centre.

export type Arrow = "ArrowLeft" | "ArrowRight" | "ArrowUp" | "ArrowDown";

const DIRECTIONS: Record<Arrow, [number, number]> = {
  ArrowLeft: [-1, 0],
  ArrowRight: [1, 0],
  ArrowUp: [0, -1], // screen y grows downwards
  ArrowDown: [0, 1],
};

export function isArrow(key: string): key is Arrow {
  return key in DIRECTIONS;
}

/** The point nearest ``(cx, cy)`` (screen coordinates ``at(i)``); -1 for no points. */
export function nearestTo(n: number, at: (i: number) => [number, number], cx: number, cy: number): number {
  let best = -1;
  let bestD = Infinity;
  for (let i = 0; i < n; i++) {
    const [x, y] = at(i);
    const d = (x - cx) ** 2 + (y - cy) ** 2;
    if (d < bestD) (bestD = d), (best = i);
  }
  return best;
}

/** From point ``from``, the nearest point in the arrow's direction; ``from`` when there is none. */
export function step(n: number, at: (i: number) => [number, number], from: number, key: Arrow): number {
  const [ux, uy] = DIRECTIONS[key];
  const [x0, y0] = at(from);
  let best = from;
  let bestD = Infinity;
  for (let i = 0; i < n; i++) {
    if (i === from) continue;
    const [x, y] = at(i);
    const along = (x - x0) * ux + (y - y0) * uy;
    const across = Math.abs((x - x0) * uy - (y - y0) * ux);
    if (along <= 0 || across > along) continue; // behind, or more than 45° off the direction
    const d = along ** 2 + across ** 2;
    if (d < bestD) (bestD = d), (best = i);
  }
  return best;
}
