// GLSL ES 3.00 sources of the face renderer's three passes. Pixel coordinates are the
// Python renderer's: pixel (x, y) has its centre at (x, y), y down; every offscreen
// texture keeps row y as image row y, and only the last pass flips for the canvas.
//
// 1. GAZE  (-> source texture): the foreground copied, then over each eye's box eyes.py `GazePainter.paint` + eye_compose.py `blend_iris`:
//    each iris sprite shifted over its sclera plate, clipped by the lids.
// 2. WARP  (-> warp texture): the moved mesh, far to near, each triangle sampling the
//    premultiplied foreground at its rest position (the exact piecewise-affine map that
//    mesh.py `BackwardMapper` approximates on a grid).
// 3. FRAME (-> canvas): layers.py `compose` over the still plate everywhere (a light
//    pass), then, drawn only over their boxes (software GL runs a shader's every line at
//    every pixel it covers, branches or not), eyes.py's lids and
//    lashes, mouth.py's `evert` tint and the interior (mouth_compose.py `paint_interior`
//    with mouth_fields.py's teeth, tongue, grain and light), then the grey of a
//    black-and-white photo. Each step truncates to 8 bits where the Python one does.
//
// Per-frame polygons and arrays come in a float texture (`u_data`, width DATA_WIDTH).

export const DATA_WIDTH = 1024;
//: float offsets in the data texture
export const DATA = {
  mouth: 0, // outline, up to 96 points (x, y)
  outer: 192, inner: 232, // evert rings, 20 points each
  eye0: 272, lid0: 308, eye1: 326, lid1: 362, // lid regions 18 points, lid lines 9
  upperU: 384, upperV: 400, lowerU: 416, lowerV: 432, // arches, up to 16 each
  lipU: 448, lipV: 512, // the upper lip's line, up to 64
  size: 576,
};

export const QUAD_VS = `#version 300 es
in vec2 a_corner;
void main() { gl_Position = vec4(a_corner, 0.0, 1.0); }
`;

// a quad over a box of pixels [x0, x1) x [y0, y1), given as pixel-edge corners; flipped
// upside down for the canvas (its row 0 is at the bottom)
export const BOX_VS = `#version 300 es
uniform float u_box_size;
uniform bool u_flip;
in vec2 a_corner;
void main() {
  vec2 p = a_corner / u_box_size;
  if (u_flip) p.y = 1.0 - p.y;
  gl_Position = vec4(p * 2.0 - 1.0, 0.0, 1.0);
}
`;

// the portrait's foreground as it is (the gaze pass then redraws the eye boxes)
export const COPY_FS = `#version 300 es
precision highp float;
uniform sampler2D u_fg;
out vec4 o;
void main() { o = texelFetch(u_fg, ivec2(gl_FragCoord.xy), 0); }
`;

// layers.py compose: the warped foreground over the still plate, grey for a grey photo
const COMPOSE = `
vec3 compose(ivec2 q) {
  vec4 w = texelFetch(u_warp, q, 0) * 255.0;
  vec3 plate = texelFetch(u_plate, q, 0).rgb * 255.0;
  return min(w.rgb + roundEven(plate * (255.0 - w.a) / 255.0), 255.0);
}
vec3 grey(vec3 c) {
  // cv2.COLOR_RGB2GRAY's fixed point
  return vec3(floor((c.r * 4899.0 + c.g * 9617.0 + c.b * 1868.0 + 8192.0) / 16384.0));
}
`;

// the frame everywhere but the lids and the mouth (drawn over it, box by box, next)
export const COMPOSE_FS = `#version 300 es
precision highp float;
uniform sampler2D u_warp;
uniform sampler2D u_plate;
uniform int u_size;
uniform bool u_grey;
out vec4 o;
${COMPOSE}
void main() {
  ivec2 q = ivec2(gl_FragCoord.xy);
  q.y = u_size - 1 - q.y;
  vec3 c = compose(q);
  o = vec4((u_grey ? grey(c) : c) / 255.0, 1.0);
}
`;

export const WARP_VS = `#version 300 es
uniform float u_size;
in vec2 a_pos;   // moved vertex, image px
in vec4 a_m;     // its triangle's affine map, output pixel -> photo point ...
in vec2 a_c;     // ... and its offset
in vec4 a_box;   // the triangle's box in the photo (x0, y0, x1, y1), grown by half a pixel
in float a_flags;  // bit 0: sharp (the warp stays exact), bit 1: foldable
flat out vec4 v_m;
flat out vec2 v_c;
flat out vec4 v_box;
flat out float v_flags;
void main() {
  v_m = a_m;
  v_c = a_c;
  v_box = a_box;
  v_flags = a_flags;
  gl_Position = vec4((a_pos + 0.5) / u_size * 2.0 - 1.0, 0.0, 1.0);
}
`;

// each pixel sampled at its own triangle's affine map, kept on that triangle's part of
// the photo (mesh.py `_fix_folds`): the picture where the grid map is mended at folds
export const WARP_FS = `#version 300 es
precision highp float;
uniform sampler2D u_src;
uniform float u_size;
flat in vec4 v_m;
flat in vec2 v_c;
flat in vec4 v_box;
flat in float v_flags;
out vec4 o;
void main() {
  vec2 p = gl_FragCoord.xy - 0.5;
  vec2 src = clamp(vec2(dot(v_m.xy, p), dot(v_m.zw, p)) + v_c, v_box.xy, v_box.zw);
  o = texture(u_src, (src + 0.5) / u_size);
}
`;

// mesh.py BackwardMapper on its grid (one fragment a cell): the displacement of the
// triangle drawn at the cell's centre, and its flags; a mouth triangle squashed to a
// sliver keeps its cells on its own part of the photo (`_clamp_slivers`)
export const GRID_FS = `#version 300 es
precision highp float;
uniform float u_step;
uniform float u_sliver_gain;
flat in vec4 v_m;
flat in vec2 v_c;
flat in vec4 v_box;
flat in float v_flags;
out vec4 o;
void main() {
  vec2 g = gl_FragCoord.xy * u_step - 0.5;
  vec2 src = vec2(dot(v_m.xy, g), dot(v_m.zw, g)) + v_c;
  float f = floor(v_flags + 0.5);
  vec4 stretch = abs(v_m - vec4(1.0, 0.0, 0.0, 1.0));
  bool mouth = mod(floor(f / 4.0), 2.0) > 0.5;
  if (mouth && max(max(stretch.x, stretch.y), max(stretch.z, stretch.w)) > u_sliver_gain - 1.0) {
    src = clamp(src, v_box.xy, v_box.zw);
  }
  o = vec4(src - g, mod(f, 2.0), mod(floor(f / 2.0), 2.0));
}
`;

// the displacement blurred along x (cv2.GaussianBlur, BORDER_REPLICATE)
export const BLUR_H_FS = `#version 300 es
precision highp float;
uniform highp sampler2D u_grid;
uniform float u_kernel[11];
uniform int u_cells;
out vec4 o;
void main() {
  ivec2 c = ivec2(gl_FragCoord.xy);
  vec2 sum = vec2(0.0);
  for (int k = -5; k <= 5; k++) {
    sum += u_kernel[k + 5] * texelFetch(u_grid, ivec2(clamp(c.x + k, 0, u_cells - 1), c.y), 0).xy;
  }
  o = vec4(sum, 0.0, 0.0);
}
`;

// ... along y; kept exact wherever a sharp cell lies within the guard (cv2.dilate)
export const BLUR_V_FS = `#version 300 es
precision highp float;
uniform highp sampler2D u_grid;
uniform highp sampler2D u_blur;
uniform float u_kernel[11];
uniform float u_guard[49];
uniform int u_cells;
out vec4 o;
void main() {
  ivec2 c = ivec2(gl_FragCoord.xy);
  vec4 own = texelFetch(u_grid, c, 0);
  vec2 sum = vec2(0.0);
  for (int k = -5; k <= 5; k++) {
    sum += u_kernel[k + 5] * texelFetch(u_blur, ivec2(c.x, clamp(c.y + k, 0, u_cells - 1)), 0).xy;
  }
  bool sharp = false;
  for (int j = -3; j <= 3; j++) {
    for (int i = -3; i <= 3; i++) {
      ivec2 n = c + ivec2(i, j);
      if (u_guard[(j + 3) * 7 + i + 3] > 0.5 && n.x >= 0 && n.y >= 0 && n.x < u_cells
          && n.y < u_cells && texelFetch(u_grid, n, 0).z > 0.5) sharp = true;
    }
  }
  o = vec4(sharp ? own.xy : sum, own.w, 0.0);
}
`;

// raster.py fold_cells: a cell whose map jumps from a neighbour's (both foldable) by
// more than the limit
export const FOLD_FS = `#version 300 es
precision highp float;
uniform highp sampler2D u_map;
uniform int u_cells;
uniform float u_step;
uniform float u_limit;
out vec4 o;
vec3 at(ivec2 c) {
  vec4 m = texelFetch(u_map, c, 0);
  return vec3((vec2(c) + 0.5) * u_step - 0.5 + m.xy, m.z);
}
void main() {
  ivec2 c = ivec2(gl_FragCoord.xy);
  vec3 own = at(c);
  float fold = 0.0;
  if (own.z > 0.5) {
    ivec2 steps[4] = ivec2[4](ivec2(1, 0), ivec2(-1, 0), ivec2(0, 1), ivec2(0, -1));
    for (int k = 0; k < 4; k++) {
      ivec2 n = c + steps[k];
      if (n.x < 0 || n.y < 0 || n.x >= u_cells || n.y >= u_cells) continue;
      vec3 other = at(n);
      vec2 jump = abs(other.xy - own.xy);
      if (other.z > 0.5 && jump.x + jump.y > u_limit) fold = 1.0;
    }
  }
  o = vec4(fold, 0.0, 0.0, 1.0);
}
`;

// the map as the Python renderer uses it: the grid's, bilinear (cv2.resize), the photo
// sampled there; around folds each pixel its own triangle's (the exact warp)
export const MAP_FS = `#version 300 es
precision highp float;
uniform sampler2D u_src;
uniform sampler2D u_exact;
uniform highp sampler2D u_map;
uniform sampler2D u_fold;
uniform int u_cells;
uniform float u_step;
uniform float u_size;
out vec4 o;
void main() {
  ivec2 px = ivec2(gl_FragCoord.xy);
  ivec2 cell = px / int(u_step);
  for (int j = -1; j <= 1; j++) {
    for (int i = -1; i <= 1; i++) {
      ivec2 n = clamp(cell + ivec2(i, j), ivec2(0), ivec2(u_cells - 1));
      if (texelFetch(u_fold, n, 0).r > 0.5) { o = texelFetch(u_exact, px, 0); return; }
    }
  }
  vec2 p = vec2(px);
  vec2 q = clamp((p + 0.5) / u_step - 0.5, vec2(0.0), vec2(float(u_cells - 1)));
  ivec2 c0 = ivec2(floor(q));
  ivec2 c1 = min(c0 + 1, ivec2(u_cells - 1));
  vec2 f = q - vec2(c0);
  vec2 d = mix(mix(texelFetch(u_map, c0, 0).xy, texelFetch(u_map, ivec2(c1.x, c0.y), 0).xy, f.x),
               mix(texelFetch(u_map, ivec2(c0.x, c1.y), 0).xy, texelFetch(u_map, c1, 0).xy, f.x),
               f.y);
  vec2 src = (q + 0.5) * u_step - 0.5 + d;
  o = texture(u_src, (src + 0.5) / u_size);
}
`;

export const GAZE_FS = `#version 300 es
precision highp float;
precision highp int;
uniform sampler2D u_fg;
uniform sampler2D u_sclera[2];
uniform highp sampler2D u_open[2];
uniform highp sampler2D u_iris[2];
uniform ivec4 u_box[2];       // x0, y0, x1, y1
uniform vec2 u_shift[2];      // iris shift, px
uniform float u_strength[2];  // min(1, shift); 0: the eye as in the photo
out vec4 o;

vec3 fg(ivec2 p) { return texelFetch(u_fg, p, 0).rgb * 255.0; }

// cv2.warpAffine's bilinear taps: source position in 1/32 px steps
void taps(vec2 at, out ivec2 i0, out vec2 f) {
  ivec2 q = ivec2(roundEven(at * 32.0));
  i0 = q >> 5;
  f = vec2(q & 31) / 32.0;
}

vec3 eye(int e, ivec2 p, vec3 roi) {
  ivec4 b = u_box[e];
  ivec2 l = p - b.xy;
  ivec2 wh = b.zw - b.xy;
  ivec2 i0; vec2 f;
  taps(vec2(l) - u_shift[e], i0, f);
  vec3 s00, s10, s01, s11; float a00, a10, a01, a11;
  ivec2 hi = wh - 1;
  ivec2 c0 = clamp(i0, ivec2(0), hi), c1 = clamp(i0 + 1, ivec2(0), hi);
  s00 = fg(b.xy + ivec2(c0.x, c0.y)); s10 = fg(b.xy + ivec2(c1.x, c0.y));
  s01 = fg(b.xy + ivec2(c0.x, c1.y)); s11 = fg(b.xy + ivec2(c1.x, c1.y));
  vec3 sprite = mix(mix(s00, s10, f.x), mix(s01, s11, f.x), f.y);
  // the iris alpha: zero outside the box (BORDER_CONSTANT)
  #define IRIS(X, Y) ((X) >= 0 && (Y) >= 0 && (X) < wh.x && (Y) < wh.y ? \
      (e == 0 ? texelFetch(u_iris[0], ivec2(X, Y), 0).r : texelFetch(u_iris[1], ivec2(X, Y), 0).r) : 0.0)
  a00 = IRIS(i0.x, i0.y); a10 = IRIS(i0.x + 1, i0.y);
  a01 = IRIS(i0.x, i0.y + 1); a11 = IRIS(i0.x + 1, i0.y + 1);
  float alpha = mix(mix(a00, a10, f.x), mix(a01, a11, f.x), f.y);
  float open = e == 0 ? texelFetch(u_open[0], l, 0).r : texelFetch(u_open[1], l, 0).r;
  vec3 sclera = (e == 0 ? texelFetch(u_sclera[0], l, 0).rgb
                        : texelFetch(u_sclera[1], l, 0).rgb) * 255.0;
  float a = alpha * open;
  vec3 moved = sclera * (1.0 - a) + sprite * a;
  float w = open * u_strength[e];
  return floor(clamp(roi * (1.0 - w) + moved * w + 0.5, 0.0, 255.0));
}

void main() {
  ivec2 p = ivec2(gl_FragCoord.xy);
  vec4 src = texelFetch(u_fg, p, 0);
  vec3 rgb = src.rgb * 255.0;
  for (int e = 0; e < 2; e++) {
    ivec4 b = u_box[e];
    if (u_strength[e] > 0.0 && p.x >= b.x && p.y >= b.y && p.x < b.z && p.y < b.w) {
      rgb = eye(e, p, rgb);
    }
  }
  o = vec4(rgb / 255.0, src.a);
}
`;

/** The frame pass over the lids' boxes (`part` "lids") or the lips' (`part` "mouth"), each a
 *  program of its own, with mouth_fields.py's constants (the manifest's) as #defines. */
export function frameShader(fields, part) {
  const list = (values) => values.map((v) => Number(v).toFixed(6)).join(", ");
  const scalars = Object.entries(fields)
    .filter(([, v]) => typeof v === "number")
    .map(([k, v]) => `#define ${k.toUpperCase()} ${Number(v).toFixed(8)}`).join("\n");
  return `#version 300 es
precision highp float;
precision highp int;
${part === "lids" ? "#define PART_LIDS" : ""}
${scalars}
const float UPPER_SHORTER[6] = float[6](${list(fields.upper_shorter)});
const float LOWER_SHORTER[6] = float[6](${list(fields.lower_shorter)});
const float TIP_POWER[6] = float[6](${list(fields.tip_power)});
const int D_MOUTH = ${DATA.mouth}, D_OUTER = ${DATA.outer}, D_INNER = ${DATA.inner};
const int D_UPPER_U = ${DATA.upperU}, D_UPPER_V = ${DATA.upperV};
const int D_LOWER_U = ${DATA.lowerU}, D_LOWER_V = ${DATA.lowerV};
const int D_LIP_U = ${DATA.lipU}, D_LIP_V = ${DATA.lipV};
const int DATA_WIDTH = ${DATA_WIDTH};
// cv2.fillPoly(LINE_AA) covers ~0.64 px beyond a polygon's edge (fitted on lines at 1/8 px
// steps); cv2.distanceTransform(DIST_L2, 3) reads ~0.96 of the Euclidean distance
const float AA_GROW = 0.64;
const float CHAMFER = 0.96;

uniform sampler2D u_warp;
uniform sampler2D u_plate;
uniform highp sampler2D u_data;
uniform highp sampler2D u_grain;
uniform int u_size;
uniform bool u_to_canvas;
uniform bool u_grey;
// eyelids
uniform bool u_lid_on[2];
uniform ivec4 u_lid_box[2];
uniform int u_lid_at[2];      // region's offset in u_data; its lid line follows (36 floats on)
uniform vec3 u_lid_colour[2];
uniform float u_lid_mean[2];
uniform float u_lid_strength[2];
uniform float u_lid_thick[2];
uniform vec3 u_lash;
// evert
uniform bool u_evert_on;
uniform ivec4 u_evert_box;
uniform float u_evert_weight;
uniform float u_evert_sigma;
uniform vec3 u_evert_gain;
// mouth interior
uniform bool u_mouth_on;
uniform ivec4 u_mouth_box;
uniform int u_mouth_n, u_upper_n, u_lower_n, u_lip_n;
uniform vec2 u_skull_o, u_jaw_o;
uniform vec4 u_skull_m, u_jaw_m;
uniform float u_ppu, u_height, u_centre_u, u_half, u_deep_from, u_tongue_top, u_shown;
uniform float u_band, u_open_light, u_dim, u_alpha, u_grain_amp, u_warm, u_lower_dim;
uniform vec3 u_col[8];        // cavity, throat, tongue, teeth, gum, shade lower, shade, shade dim
out vec4 o;

${COMPOSE}
float fetch(int i) { return texelFetch(u_data, ivec2(i % DATA_WIDTH, i / DATA_WIDTH), 0).r; }
vec2 pt(int base, int i) { return vec2(fetch(base + 2 * i), fetch(base + 2 * i + 1)); }
float ss(float x) { x = clamp(x, 0.0, 1.0); return x * x * (3.0 - 2.0 * x); }

float segment(vec2 p, vec2 a, vec2 b) {
  vec2 ab = b - a;
  float t = clamp(dot(p - a, ab) / max(dot(ab, ab), 1e-12), 0.0, 1.0);
  return length(p - a - t * ab);
}
// signed distance to a closed polygon, > 0 inside (even-odd, as cv2.fillPoly)
float polygon(vec2 p, int base, int n) {
  float d = 1e9; bool inside = false;
  vec2 a = pt(base, n - 1);
  for (int i = 0; i < n; i++) {
    vec2 b = pt(base, i);
    d = min(d, segment(p, a, b));
    if ((b.y > p.y) != (a.y > p.y) && p.x < (a.x - b.x) * (p.y - b.y) / (a.y - b.y) + b.x) {
      inside = !inside;
    }
    a = b;
  }
  return inside ? d : -d;
}
// the same with the direction in which it grows (unit): sub-pixel samples from one pass
float polygonGrad(vec2 p, int base, int n, out vec2 grad) {
  float d = 1e9; bool inside = false;
  vec2 a = pt(base, n - 1);
  vec2 near = p;
  for (int i = 0; i < n; i++) {
    vec2 b = pt(base, i);
    vec2 ab = b - a;
    float t = clamp(dot(p - a, ab) / max(dot(ab, ab), 1e-12), 0.0, 1.0);
    vec2 q = a + t * ab;
    float e = length(p - q);
    if (e < d) { d = e; near = q; }
    if ((b.y > p.y) != (a.y > p.y) && p.x < (a.x - b.x) * (p.y - b.y) / (a.y - b.y) + b.x) {
      inside = !inside;
    }
    a = b;
  }
  grad = d > 1e-6 ? (p - near) / d * (inside ? 1.0 : -1.0) : vec2(0.0);
  return inside ? d : -d;
}
float polyline(vec2 p, int base, int n) {
  float d = 1e9;
  for (int i = 0; i + 1 < n; i++) d = min(d, segment(p, pt(base, i), pt(base, i + 1)));
  return d;
}
// the normal CDF (Abramowitz-Stegun 7.1.26 erf): an anti-aliased edge after a Gaussian blur
float cdf(float x) {
  float z = abs(x) * 0.70710678;
  float t = 1.0 / (1.0 + 0.3275911 * z);
  float y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t
                   + 0.254829592) * t * exp(-z * z);
  return x >= 0.0 ? 0.5 * (1.0 + y) : 0.5 * (1.0 - y);
}
bool inBox(ivec2 p, ivec4 b) { return p.x >= b.x && p.y >= b.y && p.x < b.z && p.y < b.w; }
float u8(float x) { return floor(clamp(x, 0.0, 255.0) + 0.5); }

// eyes.py EyelidPainter.paint: lid skin over the covered eye, then the lash line
vec3 eyelid(int e, vec2 p, vec3 c) {
  float sd = polygon(p, u_lid_at[e], 18);
  float alpha = u8(255.0 * cdf((sd + AA_GROW) / 1.07)) / 255.0 * 0.9 * u_lid_strength[e];
  float mean = (c.r + c.g + c.b) / 3.0;
  vec3 skin = u_lid_colour[e] * (0.85 + 0.15 * mean / u_lid_mean[e]);
  c = c * (1.0 - alpha) + skin * alpha;
  float d = polyline(p, u_lid_at[e] + 36, 9);
  // cv2's anti-aliased polyline of thickness t is ~2t - 0.5 px wide (0.7 px for t = 1)
  float h = u_lid_thick[e] > 1.0 ? u_lid_thick[e] - 0.25 : 0.7;
  float lash = u8(255.0 * (cdf((h - d) / 0.88) - cdf((-h - d) / 0.88))) / 255.0
      * u_lid_strength[e];
  c = c * (1.0 - lash) + u_lash * lash;
  return floor(clamp(c, 0.0, 255.0));
}

// mouth.py evert: the lips turned out take their wet inner red
vec3 evertTint(vec2 p, vec3 c) {
  float s = sqrt(u_evert_sigma * u_evert_sigma + 0.15);
  float ring = cdf((polygon(p, D_OUTER, 20) + AA_GROW) / s)
      * (1.0 - cdf((polygon(p, D_INNER, 20) + AA_GROW) / s));
  float w = u8(255.0 * ring) * (u_evert_weight / 255.0);
  return floor(clamp(c * (1.0 + w * u_evert_gain), 0.0, 255.0));
}

float interp(float x, int xp, int fp, int n) {
  if (x < fetch(xp)) return fetch(fp);
  if (x >= fetch(xp + n - 1)) return fetch(fp + n - 1);
  int i = 0;
  while (i + 2 < n && fetch(xp + i + 1) <= x) i++;
  float x0 = fetch(xp + i), x1 = fetch(xp + i + 1);
  return fetch(fp + i) + (fetch(fp + i + 1) - fetch(fp + i)) * (x - x0) / (x1 - x0);
}

float grain(float gx, float gy) {
  ivec2 q = ivec2(roundEven(vec2(gx, gy) * 32.0));
  ivec2 i0 = (q / 32) % 64;
  vec2 f = vec2(q % 32) / 32.0;
  ivec2 i1 = (i0 + 1) % 64;
  float top = texelFetch(u_grain, ivec2(i0.x, i0.y), 0).r * (1.0 - f.x)
      + texelFetch(u_grain, ivec2(i1.x, i0.y), 0).r * f.x;
  float bottom = texelFetch(u_grain, ivec2(i0.x, i1.y), 0).r * (1.0 - f.x)
      + texelFetch(u_grain, ivec2(i1.x, i1.y), 0).r * f.x;
  return top * (1.0 - f.y) + bottom * f.y;
}

// mouth_fields.py tooth: (shade, gum cover, coverage, glint)
vec4 tooth(float u, float v, int bu, int bv, int n, bool upper) {
  int k = 1;
  while (k < n - 1 && fetch(bu + k) < u) k++;
  float left = fetch(bu + k - 1), right = fetch(bu + k);
  float width = max(right - left, 1e-4);
  float t = (u - left) / width * 2.0 - 1.0;
  int rank = int(abs(float(k) - float(n - 1) / 2.0) - 0.5);
  float shorter = upper ? UPPER_SHORTER[rank] : LOWER_SHORTER[rank];
  float sgn = upper ? 1.0 : -1.0;
  float corner = pow(abs(t), TIP_POWER[rank]);
  float edge = interp(u, bu, bv, n) - sgn * (shorter + CORNER_ROUND * width * corner);
  float inside = (edge - v) * sgn;
  float crown = upper ? CROWN_UPPER : CROWN_LOWER;
  float soft = 1.0 + 0.5 * clamp((90.0 - u_ppu) / 40.0, 0.0, 1.0);
  float cover = (fetch(bu) < u && u < fetch(bu + n - 1)) ? ss(inside * u_ppu / soft + 0.5) : 0.0;
  float gum = ss((inside - crown) * u_ppu + 0.5);
  float dpx = min(u - left, right - u) * u_ppu;
  float sigma = max(GAP_MIN_PX * soft, GAP_WIDTH * width * u_ppu);
  float shade = 1.0 - GAP_DARK * exp(-(dpx / sigma) * (dpx / sigma));
  shade *= 1.0 - TOOTH_ROUND * t * t;
  shade *= 1.0 - 0.25 * ss((abs(u) - 0.12) / 0.3);
  float translucent = 1.0 - 0.1 * exp(-max(inside, 0.0) / EDGE_TRANSLUCENT);
  float height = clamp(inside / crown, 0.0, 1.0);
  float neck = 1.0 - CERVICAL_DARK * ss((height - 0.45) / 0.55);
  shade *= translucent * neck;
  float glint = 0.0;
  if (upper && rank <= 1) {
    float a = t / 0.3, b = (height - 0.5) / 0.22;
    glint = TEETH_GLINT * exp(-(a * a + b * b));
  }
  return vec4(shade, gum, cover, glint);
}

vec2 tongue(float uj, float vj) {
  float w = uj / TONGUE_HALF_WIDTH;
  float w2 = w * w;
  float top = u_tongue_top + 0.12 * w2 + 0.1 * w2 * w2 * w2;
  float edges = ss((TONGUE_HALF_WIDTH - abs(uj)) * u_ppu / 3.0);
  float cover = ss((vj - top) * u_ppu / 2.0 + 0.5) * edges;
  float g = (uj * u_ppu) / max(1.5, 0.035 * u_ppu);
  float groove = 1.0 - 0.16 * exp(-g * g) * (1.0 - ss((vj - top - 0.03) / 0.1));
  float a = uj / 0.12, b = (vj - top - 0.05) / 0.035;
  float glint = 0.18 * exp(-(a * a + b * b));
  float back = 0.72 + 0.28 * ss((vj - top) / 0.07);
  return vec2(cover, back * groove + glint);
}

vec3 teethColour(vec3 teeth, vec3 cavity, vec3 gum, float shade, float glint, float gumCover) {
  vec3 rgb = teeth * shade + cavity * (u_warm * (1.0 - shade));
  rgb = rgb + (255.0 - rgb) * glint;
  return rgb + (gum - rgb) * gumCover;
}

// mouth.py _coverage (3x supersampled anti-aliased mask, chamfer distance averaged down)
// then mouth_compose.py paint_interior for one pixel
vec3 mouth(vec2 p, vec3 roi) {
  vec2 grad;
  float sd = polygonGrad(p, D_MOUTH, u_mouth_n, grad);
  float cover = 0.0, dist = 0.0;
  if (sd > 1.0) {
    cover = 1.0;
    dist = CHAMFER * (3.0 * sd + AA_GROW + 0.5) / 3.0;
  } else if (sd < -1.0) {
    return roi;
  } else {
    for (int j = -1; j <= 1; j++) {
      for (int i = -1; i <= 1; i++) {
        // one pixel of the 3x mask (the distance field carried along its gradient): cv2's
        // anti-aliased fill reaches AA_GROW beyond the edge
        float s = 3.0 * (sd + dot(grad, vec2(float(i), float(j)) / 3.0)) + AA_GROW;
        cover += clamp(0.5 + s, 0.0, 1.0);
        dist += s > 0.0 ? CHAMFER * (s + 0.5) : 0.0;
      }
    }
    cover /= 9.0;
    dist /= 27.0;
  }
  float m = u8(255.0 * cover);
  if (m == 0.0) return roi;
  vec2 d = p - u_skull_o;
  float u = u_skull_m.x * d.x + u_skull_m.y * d.y, v = u_skull_m.z * d.x + u_skull_m.w * d.y;
  d = p - u_jaw_o;
  float uj = u_jaw_m.x * d.x + u_jaw_m.y * d.y, vj = u_jaw_m.z * d.x + u_jaw_m.w * d.y;
  float side = abs(u - u_centre_u) / u_half;
  float deep = 0.55 * ss((dist / u_height - u_deep_from) / (1.0 - u_deep_from))
      + 0.45 * ss((side - 0.3) / 0.6);
  vec2 tg = tongue(uj, vj);
  float gx = mod(u * TEXTURE_CELLS, 64.0), gy = mod(v * TEXTURE_CELLS, 64.0);
  float gr = 1.0 + u_grain_amp * grain(gx, gy) * (1.0 - 0.6 * deep);
  vec4 lo = tooth(uj, vj, D_LOWER_U, D_LOWER_V, u_lower_n, false);
  vec4 up = tooth(u, v, D_UPPER_U, D_UPPER_V, u_upper_n, true);
  lo.z *= u_shown;
  up.z *= u_shown;
  float below = max(v - interp(u, D_LIP_U, D_LIP_V, u_lip_n), 0.0);
  float lit = 1.0 - SHADOW_UNDER_LIP * exp(-below / SHADOW_FALLOFF);
  lit *= 1.0 - BAND_DARK * exp(-(dist / u_band) * (dist / u_band));
  float corner = 1.0 - CORNER_DARK * ss((side - 0.5) / 0.5);
  lit *= u_open_light;
  float a = m * (u_alpha / 255.0);
  vec3 cavity = u_col[0], throat = u_col[1];
  vec3 colour = cavity * (1.0 - deep) + throat * deep;
  colour = (colour + (u_col[2] * tg.y - colour) * tg.x) * gr;
  vec3 lower = teethColour(u_col[3], cavity, u_col[4], lo.x, 0.0, lo.y);
  lower = lower * u_lower_dim + u_col[5];
  colour = colour + (lower - colour) * lo.z;
  vec3 upper = teethColour(u_col[3], cavity, u_col[4], up.x, up.w, up.y);
  colour = colour + (upper - colour) * up.z;
  colour = colour * lit + u_col[6] * (1.0 - lit);
  colour = colour * corner + throat * (1.0 - corner);
  colour = colour * u_dim + u_col[7];
  return floor(clamp(roi + (colour - roi) * a, 0.0, 255.0));
}

void main() {
  ivec2 q = ivec2(gl_FragCoord.xy);
  if (u_to_canvas) q.y = u_size - 1 - q.y;
  vec2 p = vec2(q);
  vec3 c = compose(q);
#ifdef PART_LIDS
  for (int e = 0; e < 2; e++) {
    if (u_lid_on[e] && inBox(q, u_lid_box[e])) c = eyelid(e, p, c);
  }
#else
  if (u_evert_on && inBox(q, u_evert_box)) c = evertTint(p, c);
  if (u_mouth_on && inBox(q, u_mouth_box)) c = mouth(p, c);
#endif
  o = vec4((u_grey ? grey(c) : c) / 255.0, 1.0);
}
`;
}
