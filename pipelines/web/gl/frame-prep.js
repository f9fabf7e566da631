// What a frame needs before the GPU draws it, computed on the CPU from one motion
// frame: the moved mesh and its drawing order, the eyelids, the lips' turn-out and the
// mouth's opening with its posed teeth. Each function is the JS twin of a step of
// avatar/render (renderer.py `vertices`, `_posed`, `mouth_anchors`; mesh.py
// `BackwardMapper` order; eyes.py `EyelidPainter.paint`; mouth.py `MouthPainter`'s
// `_opening`, `paint`, `evert`), on a few hundred points: cheap next to the pixels.

export const HEADER = 17; // motion frame: rotation 9, scale, shift 2, gaze 4, rounding
const MIN_CLOSURE = 0.15; // eyes.py: a lid painted from this closure on ...
const CLOSURE_SPAN = 0.6; // ... fully at MIN_CLOSURE + CLOSURE_SPAN
const LASH_THICK_IOD = 0.025;

const clamp = (x, lo, hi) => Math.min(Math.max(x, lo), hi);
const smooth = (x) => {
  const c = clamp(x, 0, 1);
  return c * c * (3 - 2 * c);
};

/** Python's round(): halves to even (cv2's and numpy's rounding too). */
export function roundEven(x) {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** The static mesh of an asset bundle, shaped for the per-frame steps. */
export function meshOf(assets) {
  const m = assets.manifest;
  const a = assets.arrays;
  const n = a.z0.length;
  const k = m.actuators.length;
  const tris = a.triangles;
  for (let i = 0; i < tris.length; i++) {
    if (tris[i] < 0 || tris[i] >= n) throw new Error(`triangle vertex ${tris[i]} out of range`);
  }
  if (a.basis.length !== k * n * 2) throw new Error("expression basis does not match the mesh");
  // the image border's still points pushed a pixel out: a GPU leaves pixel centres that lie
  // exactly on a triangle's right or bottom edge uncovered (the last row and column), where
  // the Python map samples the photo where it is (an identity map either way)
  const xy0 = Float32Array.from(a.xy0);
  for (let i = 0; i < 2 * n; i++) {
    if (a.moves[i >> 1] !== 0) continue;
    if (xy0[i] <= 0) xy0[i] = -1;
    else if (xy0[i] >= m.size - 1) xy0[i] = m.size;
  }
  return { n, k, size: m.size, xy0, z0: a.z0, moves: a.moves, tris, layer: a.tri_layer,
           basis: a.basis, pivot: m.pivot, gain: m.depth_gain, t: tris.length / 3 };
}

/** renderer.py `_posed` for one point: turned about the pivot (depth stretched), scaled,
 *  shifted; returns [x, y, z]. */
function posed(frame, mesh, x, y, z) {
  const [px, py, pz] = mesh.pivot;
  const [gx, gy, gz] = mesh.gain;
  const r = frame;
  const dx = x - px, dy = y - py, dz = z - pz;
  const s = frame[9];
  const rx = r[0] * dx + r[1] * dy + r[2] * dz + dz * gx * r[2];
  const ry = r[3] * dx + r[4] * dy + r[5] * dz + dz * gy * r[5];
  const rz = r[6] * dx + r[7] * dy + r[8] * dz + dz * gz * r[8];
  return [rx * s + px + frame[10] * mesh.size, ry * s + py + frame[11] * mesh.size, rz * s + pz];
}

/** renderer.py `vertices`: moved positions into `xy` (2N) and depths into `z` (N). */
export function moveVertices(mesh, frame, xy, z) {
  const { n, k, xy0, z0, moves, basis } = mesh;
  xy.set(xy0);
  for (let j = 0; j < k; j++) {
    const amp = frame[HEADER + j];
    if (amp === 0) continue;
    const field = basis.subarray(j * n * 2, (j + 1) * n * 2);
    for (let i = 0; i < 2 * n; i++) xy[i] += amp * field[i];
  }
  for (let i = 0; i < n; i++) {
    const w = moves[i];
    const [mx, my, mz] = posed(frame, mesh, xy[2 * i], xy[2 * i + 1], z0[i]);
    xy[2 * i] = mx * w + xy0[2 * i] * (1 - w);
    xy[2 * i + 1] = my * w + xy0[2 * i + 1] * (1 - w);
    z[i] = mz * w + z0[i] * (1 - w);
  }
}

/** Triangle ids far to near into `order` (mesh.py: mean depth + layer, stable sort). */
export function drawOrder(mesh, z, order, depth) {
  const { tris, layer, t } = mesh;
  const f = Math.fround;
  for (let i = 0; i < t; i++) {
    const a = tris[3 * i], b = tris[3 * i + 1], c = tris[3 * i + 2];
    depth[i] = f(f(f(f(z[a] + z[b]) + z[c]) / 3) + layer[i]);
    order[i] = i;
  }
  order.sort((p, q) => depth[q] - depth[p]); // Array.prototype.sort is stable
}

export const STREAM_FLOATS = 13; // per vertex: position 2, affine 6, photo box 4, flags 1

/**
 * The triangles in drawing order (`order`, triangle ids) as a vertex stream for the warp:
 * per vertex its moved position, then its triangle's affine map from output pixel to photo
 * point (m00, m01, m10, m11, cx, cy) as mesh.py `displacement_affines` makes it, the
 * triangle's box in the photo grown by half a pixel, and its flags (`flags`, per triangle).
 * Each pixel computes its photo point from its own centre: the rasteriser's sub-pixel
 * snapping of the corners never shifts the sample (interpolated coordinates would move).
 */
export function triangleStream(mesh, xy, order, flags, out) {
  const src = mesh.xy0;
  const tris = mesh.tris;
  const F = STREAM_FLOATS;
  for (let t = 0; t < mesh.t; t++) {
    const tri = order[t];
    const i0 = tris[3 * tri], i1 = tris[3 * tri + 1], i2 = tris[3 * tri + 2];
    const d0x = xy[2 * i0], d0y = xy[2 * i0 + 1];
    const e1x = xy[2 * i1] - d0x, e1y = xy[2 * i1 + 1] - d0y;
    const e2x = xy[2 * i2] - d0x, e2y = xy[2 * i2 + 1] - d0y;
    const s0x = src[2 * i0], s0y = src[2 * i0 + 1];
    const f1x = src[2 * i1] - s0x, f1y = src[2 * i1 + 1] - s0y;
    const f2x = src[2 * i2] - s0x, f2y = src[2 * i2 + 1] - s0y;
    const det = e1x * e2y - e1y * e2x;
    let m00 = 0, m01 = 0, m10 = 0, m11 = 0, cx, cy;
    if (Math.abs(det) > 1e-3) {
      const i00 = e2y / det, i01 = -e2x / det, i10 = -e1y / det, i11 = e1x / det;
      m00 = f1x * i00 + f2x * i10;
      m01 = f1x * i01 + f2x * i11;
      m10 = f1y * i00 + f2y * i10;
      m11 = f1y * i01 + f2y * i11;
      cx = s0x - m00 * d0x - m01 * d0y;
      cy = s0y - m10 * d0x - m11 * d0y;
    } else { // squashed flat: the centre of its photo triangle
      cx = s0x + (f1x + f2x) / 3;
      cy = s0y + (f1y + f2y) / 3;
    }
    const xs = [s0x, s0x + f1x, s0x + f2x], ys = [s0y, s0y + f1y, s0y + f2y];
    const box = [Math.min(...xs) - 0.5, Math.min(...ys) - 0.5,
                 Math.max(...xs) + 0.5, Math.max(...ys) + 0.5];
    for (const [k, v] of [[0, i0], [1, i1], [2, i2]]) {
      const at = (3 * t + k) * F;
      out[at] = xy[2 * v];
      out[at + 1] = xy[2 * v + 1];
      out[at + 2] = m00; out[at + 3] = m01; out[at + 4] = m10; out[at + 5] = m11;
      out[at + 6] = cx; out[at + 7] = cy;
      out[at + 8] = box[0]; out[at + 9] = box[1]; out[at + 10] = box[2]; out[at + 11] = box[3];
      out[at + 12] = flags ? flags[tri] : 0;
    }
  }
}

/**
 * The stream's triangles grown by `reach` px (each edge moved out, the corners along their
 * bisectors, at most 3 reach): cv2.fillConvexPoly, which draws the Python renderer's grid
 * of triangle ids, fills every cell its 8-connected edge lines pass through, where a GPU
 * takes only the cells whose centres lie inside. Grown, a triangle claims those cells too
 * (its map is unchanged: the affine attributes are its own).
 */
export function grownStream(stream, t, reach, out) {
  const F = STREAM_FLOATS;
  out.set(stream);
  for (let k = 0; k < t; k++) {
    const base = 3 * k * F;
    const p = [0, 1, 2].map((j) => [stream[base + j * F], stream[base + j * F + 1]]);
    const area = (p[1][0] - p[0][0]) * (p[2][1] - p[0][1]) - (p[1][1] - p[0][1]) * (p[2][0] - p[0][0]);
    if (Math.abs(area) < 1e-9) continue;
    const sign = area > 0 ? 1 : -1;
    const normal = (a, b) => { // outward unit normal of edge a -> b
      const dx = b[0] - a[0], dy = b[1] - a[1];
      const len = Math.hypot(dx, dy) || 1;
      return [sign * dy / len, -sign * dx / len];
    };
    const n = [normal(p[0], p[1]), normal(p[1], p[2]), normal(p[2], p[0])];
    for (let j = 0; j < 3; j++) {
      const a = n[(j + 2) % 3], b = n[j]; // the edges into and out of corner j
      const dot = a[0] * b[0] + a[1] * b[1];
      let mx = (a[0] + b[0]) / Math.max(1 + dot, 1e-6), my = (a[1] + b[1]) / Math.max(1 + dot, 1e-6);
      const len = Math.hypot(mx, my);
      if (len > 3) { mx *= 3 / len; my *= 3 / len; }
      out[base + j * F] = p[j][0] + reach * mx;
      out[base + j * F + 1] = p[j][1] + reach * my;
    }
  }
}

const pt = (xy, i) => [xy[2 * i], xy[2 * i + 1]];

/** eyes.py `EyelidPainter.paint`'s per-eye set-up: null where the lid is open. */
export function eyelids(assets, xy) {
  const lids = assets.manifest.eyelids;
  const size = assets.size;
  return lids.eyes.map((eye) => {
    const lid = eye.upper.map((i) => pt(xy, i));
    const top = eye.upper_copies.map((i) => pt(xy, i));
    let drop = -Infinity;
    for (let i = 0; i < lid.length; i++) drop = Math.max(drop, lid[i][1] - top[i][1]);
    const closure = drop / Math.max(eye.rest_gap, 1e-3);
    if (closure < MIN_CLOSURE) return null;
    const region = top.concat(lid.slice().reverse());
    const xs = region.map((p) => p[0]);
    const ys = region.map((p) => p[1]);
    const lowest = Math.max(...eye.lower.map((i) => xy[2 * i + 1]));
    const box = [Math.max(Math.trunc(Math.min(...xs)) - 3, 0),
                 Math.max(Math.trunc(Math.min(...ys)) - 3, 0),
                 Math.min(Math.trunc(Math.max(...xs)) + 4, size),
                 Math.min(Math.trunc(lowest) + 4, size)];
    if (box[2] <= box[0] || box[3] <= box[1]) return null;
    const colourMean = (eye.colour[0] + eye.colour[1] + eye.colour[2]) / 3;
    return { region, lid, box, colour: eye.colour, colourMean: Math.max(colourMean, 1),
             strength: clamp((closure - MIN_CLOSURE) / CLOSURE_SPAN, 0, 1),
             thick: Math.max(1, roundEven(LASH_THICK_IOD * lids.iod)) };
  });
}

/** mouth.py `evert`'s set-up: the lips' outer and inner rings, or null (nothing to tint). */
export function evert(assets, xy, amount) {
  const m = assets.manifest;
  if (!m.rounding || amount <= 0.01) return null;
  const L = m.mouth.lips;
  const ring = (upper, lower) => upper.concat(lower.slice(1, -1).reverse()).map((i) => pt(xy, i));
  const outer = ring(L.upper_outer, L.lower_outer);
  const inner = ring(L.upper_inner, L.lower_inner);
  const xs = outer.map((p) => p[0]);
  const ys = outer.map((p) => p[1]);
  const box = [Math.max(Math.floor(Math.min(...xs)) - 3, 0),
               Math.max(Math.floor(Math.min(...ys)) - 3, 0),
               Math.min(Math.ceil(Math.max(...xs)) + 4, assets.size),
               Math.min(Math.ceil(Math.max(...ys)) + 4, assets.size)];
  if (box[2] - box[0] < 3 || box[3] - box[1] < 3) return null;
  return { outer, inner, box, weight: m.mouth.constants.evert_tint * Math.min(amount, 1),
           sigma: m.mouth.constants.evert_feather_px };
}

/** renderer.py `mouth_anchors`: the teeth's anchors posed with the head and the jaw. */
export function mouthAnchors(assets, frame) {
  const a = assets.arrays;
  const mesh = assets.mesh;
  const rows = a.mouth_anchor_z.length;
  const k = assets.manifest.actuators.length;
  const out = new Array(rows);
  for (let r = 0; r < rows; r++) {
    let x = a.mouth_anchor_xy[2 * r];
    let y = a.mouth_anchor_xy[2 * r + 1];
    if (a.mouth_jaw[r]) {
      for (let j = 0; j < k; j++) {
        x += frame[HEADER + j] * a.mouth_jaw_field[2 * j];
        y += frame[HEADER + j] * a.mouth_jaw_field[2 * j + 1];
      }
    }
    const p = posed(frame, mesh, x, y, a.mouth_anchor_z[r]);
    out[r] = [p[0], p[1]];
  }
  return out;
}

/** mouth.py `_chaikin`: two rounds of corner cutting, the ends kept. */
function chaikin(points, rounds = 2) {
  let p = points;
  for (let r = 0; r < rounds; r++) {
    const next = [p[0]];
    for (let i = 0; i + 1 < p.length; i++) {
      const [ax, ay] = p[i];
      const [bx, by] = p[i + 1];
      next.push([0.75 * ax + 0.25 * bx, 0.75 * ay + 0.25 * by]);
      next.push([0.25 * ax + 0.75 * bx, 0.25 * ay + 0.75 * by]);
    }
    next.push(p[p.length - 1]);
    p = next;
  }
  return p;
}

/** mouth.py `MouthPainter._local`: origin, inverse map px -> face units, px per unit. */
function local(p0, p1, p2) {
  const ux = (p1[0] - p0[0]) / 0.1, uy = (p1[1] - p0[1]) / 0.1;
  const vx = (p2[0] - p0[0]) / 0.1, vy = (p2[1] - p0[1]) / 0.1;
  const det = ux * vy - vx * uy;
  return { origin: p0, inv: [vy / det, -vx / det, -uy / det, ux / det], ppu: Math.hypot(ux, uy) };
}

function toUV(l, p) {
  const dx = p[0] - l.origin[0], dy = p[1] - l.origin[1];
  return [l.inv[0] * dx + l.inv[1] * dy, l.inv[2] * dx + l.inv[3] * dy];
}

/** np.interp of one value (xp non-decreasing, held at the ends). */
function interp(x, xp, fp) {
  const n = xp.length;
  if (x < xp[0]) return fp[0];
  if (x >= xp[n - 1]) return fp[n - 1];
  let i = 0;
  while (xp[i + 1] <= x) i++;
  return fp[i] + (fp[i + 1] - fp[i]) * (x - xp[i]) / (xp[i + 1] - xp[i]);
}

function segment(px, py, a, b) {
  const abx = b[0] - a[0], aby = b[1] - a[1];
  const den = Math.max(abx * abx + aby * aby, 1e-12);
  const t = clamp(((px - a[0]) * abx + (py - a[1]) * aby) / den, 0, 1);
  return Math.hypot(px - a[0] - t * abx, py - a[1] - t * aby);
}

/** Signed distance (px, > 0 inside, even-odd) of a point to a closed polygon. */
export function polygonDistance(px, py, poly) {
  let d = Infinity;
  let inside = false;
  let a = poly[poly.length - 1];
  for (const b of poly) {
    d = Math.min(d, segment(px, py, a, b));
    if ((b[1] > py) !== (a[1] > py) && px < (a[0] - b[0]) * (py - b[1]) / (a[1] - b[1]) + b[0]) {
      inside = !inside;
    }
    a = b;
  }
  return inside ? d : -d;
}

/** The opening's distance field, as mouth.py `_coverage` makes it (a 3x supersampled
 *  chamfer distance, averaged down), at an interior pixel `sd` px from the edge. */
export const CHAMFER = 0.96;
export const AA_GROW = 0.64;
export const interiorDistance = (sd) => CHAMFER * (3 * sd + AA_GROW + 0.5) / 3;

/** The largest distance to the lips' edge inside the opening (`height_px`): a coarse
 *  search of pixel centres, then the neighbourhood of the best. */
function deepest(outline, box) {
  const [x0, y0, x1, y1] = box;
  let best = -Infinity, bx = x0, by = y0;
  for (let y = y0; y < y1; y += 2) {
    for (let x = x0; x < x1; x += 2) {
      const d = polygonDistance(x, y, outline);
      if (d > best) { best = d; bx = x; by = y; }
    }
  }
  for (let y = Math.max(by - 2, y0); y <= Math.min(by + 2, y1 - 1); y++) {
    for (let x = Math.max(bx - 2, x0); x <= Math.min(bx + 2, x1 - 1); x++) {
      best = Math.max(best, polygonDistance(x, y, outline));
    }
  }
  return best > 0 ? interiorDistance(best) : 0;
}

/** mouth.py `MouthPainter._opening` and `paint`'s per-frame set-up: null where the lips
 *  touch; otherwise the outline, its box and every scalar, arch and colour the fragment
 *  shader's interior needs (mouth_compose.py `MouthFrame`). */
export function mouthOpening(assets, xy, anchors, rounding) {
  const M = assets.manifest.mouth;
  const C = M.constants;
  const L = M.lips;
  const upper = L.upper_inner.map((i) => pt(xy, i));
  const lower = L.lower_inner.map((i) => pt(xy, i));
  const n = upper.length;
  const ax = upper[n - 1][0] - upper[0][0], ay = upper[n - 1][1] - upper[0][1];
  const norm = Math.max(Math.hypot(ax, ay), 1e-9);
  const down = [-ay / norm, ax / norm];
  for (let i = 0; i < n; i++) {
    const past = Math.min((lower[i][0] - upper[i][0]) * down[0]
                          + (lower[i][1] - upper[i][1]) * down[1], 0);
    lower[i] = [lower[i][0] - past * down[0], lower[i][1] - past * down[1]];
  }
  const [r0] = M.rows.rest_lips;
  let height = -Infinity;
  for (let i = 0; i < n; i++) {
    const ru = anchors[r0 + i], rl = anchors[r0 + n + i];
    const restGap = Math.hypot(rl[0] - ru[0], rl[1] - ru[1]);
    const gap = Math.hypot(lower[i][0] - upper[i][0], lower[i][1] - upper[i][1]);
    height = Math.max(height, gap - Math.max(M.rest_gap[i], restGap));
  }
  if (height < C.min_opening_px) return null;
  const fade = clamp((height - C.min_opening_px) / 3, 0, 1);
  const upperS = chaikin(upper), lowerS = chaikin(lower);
  const outline = upperS.concat(lowerS.slice(1, -1).reverse());
  const xs = outline.map((p) => p[0]);
  const ys = outline.map((p) => p[1]);
  const size = assets.size;
  const box = [Math.max(Math.floor(Math.min(...xs)) - 2, 0),
               Math.max(Math.floor(Math.min(...ys)) - 2, 0),
               Math.min(Math.ceil(Math.max(...xs)) + 3, size),
               Math.min(Math.ceil(Math.max(...ys)) + 3, size)];
  if (box[2] - box[0] < 2 || box[3] - box[1] < 2) return null;

  const rows = anchors.length;
  const skull = local(anchors[0], anchors[1], anchors[2]);
  const jaw = local(anchors[rows - 3], anchors[rows - 2], anchors[rows - 1]);
  const ppu = skull.ppu;
  const up = anchors.slice(...M.rows.upper).map((p) => toUV(skull, p));
  const lo = anchors.slice(...M.rows.lower).map((p) => toUV(jaw, p));
  const lip = upperS.map((p) => toUV(skull, p));
  const lipU = lip.map((p) => p[0]);
  const half = Math.max((Math.max(...lipU) - Math.min(...lipU)) / 2, 1e-3);
  const openUnits = height / ppu;
  const wide = smooth((openUnits - 0.08) / 0.15);
  const dl = Math.hypot(anchors[2][0] - anchors[0][0], anchors[2][1] - anchors[0][1]);
  const unitDown = [(anchors[2][0] - anchors[0][0]) / Math.max(dl, 1e-9),
                    (anchors[2][1] - anchors[0][1]) / Math.max(dl, 1e-9)];
  const drop = Math.max((anchors[rows - 3][0] - anchors[0][0]) * unitDown[0]
                        + (anchors[rows - 3][1] - anchors[0][1]) * unitDown[1], 0) / ppu;
  const lowerEdge = interp(0, lo.map((p) => p[0]), lo.map((p) => p[1]));
  const width = Math.hypot(upper[n - 1][0] - upper[0][0], upper[n - 1][1] - upper[0][1]);
  const gather = 1 - clamp((width / Math.max(M.rest_width, 1e-3) - C.gather_from)
                           / C.gather_over, 0, 1);
  const P = M.palette;
  const mix = (a, b, t) => a.map((v, i) => v + (b[i] - v) * t);
  const shade = mix(P.shade, P.throat, C.wide_shade_throat * wide);
  const dim = 1 - C.rounded_dim * Math.max(clamp(rounding, 0, 1), gather);
  const colours = [P.cavity, P.throat, P.tongue, P.teeth, P.gum,
                   P.shade.map((v) => v * (1 - C.lower_dim)), shade,
                   shade.map((v) => v * (1 - dim))];
  const cummax = (values) => {
    let m = -Infinity;
    return values.map((v) => (m = Math.max(m, v)));
  };
  const order = lip.map((_, i) => i).sort((p, q) => lip[p][0] - lip[q][0]);
  return {
    outline, box, skull, jaw, ppu, height: Math.max(deepest(outline, box), 1),
    centreU: Math.min(...lipU) + half, half,
    deepFrom: C.deep_from * (1 - wide) + C.deep_from_wide * wide,
    tongueTop: lowerEdge - (0.03 + 0.4 * drop),
    shown: 1 - Math.max(gather, C.rounded_hides * smooth((rounding - C.hide_from)
                                                          / (1 - C.hide_from))),
    upperU: cummax(up.map((p) => p[0])), upperV: up.map((p) => p[1]),
    lowerU: cummax(lo.map((p) => p[0])), lowerV: lo.map((p) => p[1]),
    lipU: order.map((i) => lip[i][0]), lipV: order.map((i) => lip[i][1]),
    band: Math.max(C.band_min_px, C.band_width * ppu),
    openLight: 0.85 + 0.15 * smooth(openUnits / 0.12),
    colours, dim, alpha: fade,
  };
}
