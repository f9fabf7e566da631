// The face drawn by the visitor's own GPU: WebGL2, plain, no build step.
//
// It draws what avatar/render's PortraitRenderer draws (the Python renderer stays the
// reference) from the 59-float motion frame that avatar/render/browser_assets.py's
// `motion_vector` makes, with the assets its `export_browser_assets` made once:
//
//   const assets = await loadFaceAssets(`/assets/${hash}`);
//   const r = createFaceRenderer(canvas, assets);   // GLUnavailableError: no WebGL2
//   r.draw(frame);                                  // Float32Array(MOTION_FRAME_LEN)
//   r.onContextLost((reason) => askForPixels());
//
// The CPU moves a few hundred mesh points and sets up the eyelids and the mouth
// (frame-prep.js); three passes draw the pixels (shaders.js). docs/GL_RENDERER.md.

import { AssetError, loadFaceAssets } from "./assets.js";
import {
  HEADER, drawOrder, evert, eyelids, meshOf, mouthAnchors, mouthOpening, moveVertices,
  STREAM_FLOATS, grownStream, triangleStream,
} from "./frame-prep.js";
import {
  BLUR_H_FS, BLUR_V_FS, BOX_VS, COMPOSE_FS, COPY_FS, DATA, DATA_WIDTH, FOLD_FS, GAZE_FS, GRID_FS,
  MAP_FS, QUAD_VS, WARP_FS, WARP_VS, frameShader,
} from "./shaders.js";

export { AssetError, loadFaceAssets };
export const MOTION_FRAME_VERSION = 1;
//: how far (cells) a triangle reaches beyond its edges on the grid, as cv2.fillConvexPoly's
//: edge lines do (the Python renderer's grid of triangle ids)
const GROW_CELLS = 0.45; // 0.5 and 0.6 tried: 0.45 best on jaw, blink and a turn together

/** No WebGL2 here (or it failed to start): the page should ask for pixels. */
export class GLUnavailableError extends Error {
  constructor(message) {
    super(message);
    this.name = "GLUnavailableError";
  }
}

function compile(gl, type, source) {
  const shader = gl.createShader(type);
  gl.shaderSource(shader, source);
  gl.compileShader(shader);
  if (!gl.getShaderParameter(shader, gl.COMPILE_STATUS) && !gl.isContextLost()) {
    throw new GLUnavailableError(`shader does not compile: ${gl.getShaderInfoLog(shader)}`);
  }
  return shader;
}

function program(gl, vs, fs) {
  const p = gl.createProgram();
  gl.attachShader(p, compile(gl, gl.VERTEX_SHADER, vs));
  gl.attachShader(p, compile(gl, gl.FRAGMENT_SHADER, fs));
  gl.linkProgram(p);
  if (!gl.getProgramParameter(p, gl.LINK_STATUS) && !gl.isContextLost()) {
    throw new GLUnavailableError(`program does not link: ${gl.getProgramInfoLog(p)}`);
  }
  const cache = new Map();
  p.at = (name) => {
    if (!cache.has(name)) cache.set(name, gl.getUniformLocation(p, name));
    return cache.get(name);
  };
  return p;
}

function texture(gl, { width, height, internal, format, type, data, linear = false }) {
  const t = gl.createTexture();
  gl.bindTexture(gl.TEXTURE_2D, t);
  gl.pixelStorei(gl.UNPACK_ALIGNMENT, 1);
  gl.pixelStorei(gl.UNPACK_FLIP_Y_WEBGL, false);
  gl.pixelStorei(gl.UNPACK_PREMULTIPLY_ALPHA_WEBGL, false);
  gl.pixelStorei(gl.UNPACK_COLORSPACE_CONVERSION_WEBGL, gl.NONE);
  if (data instanceof ImageBitmap) {
    gl.texImage2D(gl.TEXTURE_2D, 0, internal, format, type, data);
  } else {
    gl.texImage2D(gl.TEXTURE_2D, 0, internal, width, height, 0, format, type, data ?? null);
  }
  const filter = linear ? gl.LINEAR : gl.NEAREST;
  gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, filter);
  gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, filter);
  gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_S, gl.CLAMP_TO_EDGE);
  gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_T, gl.CLAMP_TO_EDGE);
  return t;
}

const floatTex = (gl, w, h, data) => texture(gl, {
  width: w, height: h, internal: gl.R32F, format: gl.RED, type: gl.FLOAT, data });

function target(gl, size, linear, float = false) {
  const tex = texture(gl, float
    ? { width: size, height: size, internal: gl.RGBA32F, format: gl.RGBA, type: gl.FLOAT }
    : { width: size, height: size, internal: gl.RGBA8, format: gl.RGBA,
        type: gl.UNSIGNED_BYTE, linear });
  const fbo = gl.createFramebuffer();
  gl.bindFramebuffer(gl.FRAMEBUFFER, fbo);
  gl.framebufferTexture2D(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.TEXTURE_2D, tex, 0);
  gl.bindFramebuffer(gl.FRAMEBUFFER, null);
  return { tex, fbo };
}

/** GPU objects of one asset bundle: textures, mesh buffers, per-frame scratch. `floats`:
 *  float render targets exist (EXT_color_buffer_float), so the map is built on the Python
 *  renderer's grid; without them each pixel takes its triangle's exact map. */
function upload(gl, assets, floats) {
  const m = assets.manifest;
  const size = m.size;
  const mesh = meshOf(assets);
  assets.mesh = mesh;
  const rgba = { internal: gl.RGBA8, format: gl.RGBA, type: gl.UNSIGNED_BYTE };
  const fg = texture(gl, { ...rgba, data: assets.images.foreground });
  const plate = texture(gl, { ...rgba, data: assets.images.plate });
  const grain = floatTex(gl, 64, 64, assets.arrays.grain);
  const eyes = [null, null];
  for (const eye of m.gaze_eyes) {
    const [x0, y0, x1, y1] = eye.box;
    const w = x1 - x0, h = y1 - y0;
    const s = eye.side;
    eyes[s] = {
      box: eye.box,
      sclera: texture(gl, { width: w, height: h, internal: gl.RGB8, format: gl.RGB,
                            type: gl.UNSIGNED_BYTE, data: assets.arrays[`sclera_${s}`] }),
      open: floatTex(gl, w, h, assets.arrays[`open_${s}`]),
      iris: floatTex(gl, w, h, assets.arrays[`iris_${s}`]),
    };
  }
  const triBuf = gl.createBuffer();
  gl.bindBuffer(gl.ARRAY_BUFFER, triBuf);
  gl.bufferData(gl.ARRAY_BUFFER, mesh.t * 3 * STREAM_FLOATS * 4, gl.DYNAMIC_DRAW);
  const grid = floats && m.grid ? m.grid : null;
  const cells = grid ? grid.cells : 0;
  return {
    assets, mesh, size, fg, plate, grain, eyes, triBuf,
    stream: new Float32Array(mesh.t * 3 * STREAM_FLOATS),
    xy: new Float32Array(mesh.n * 2), z: new Float32Array(mesh.n), order: new Array(mesh.t),
    grid, exact: grid ? target(gl, size, false) : null,
    grown: grid ? new Float32Array(mesh.t * 3 * STREAM_FLOATS) : null,
    gridBuf: grid ? gl.createBuffer() : null,
    cellTargets: grid ? [0, 1, 2].map(() => target(gl, cells, false, true)) : [],
    fold: grid ? target(gl, cells, false) : null,
    depth: new Float32Array(mesh.t), data: new Float32Array(DATA_WIDTH),
    dataTex: floatTex(gl, DATA_WIDTH, 1, null),
    source: target(gl, size, true), warp: target(gl, size, false),
    textures: () => [fg, plate, grain, ...eyes.flatMap((e) => (e ? [e.sclera, e.open, e.iris] : []))],
  };
}

function release(gl, u) {
  const targets = [u.source, u.warp, u.exact, ...u.cellTargets, u.fold].filter(Boolean);
  for (const t of [...u.textures(), u.dataTex, ...targets.map((x) => x.tex)]) gl.deleteTexture(t);
  for (const f of targets.map((x) => x.fbo)) gl.deleteFramebuffer(f);
  gl.deleteBuffer(u.triBuf);
  if (u.gridBuf) gl.deleteBuffer(u.gridBuf);
}

/** The frame of the portrait at rest: identity turn, scale 1, nothing else. */
export function restFrame(length) {
  const f = new Float32Array(length);
  f[0] = f[4] = f[8] = 1;
  f[9] = 1;
  return f;
}

function checkFrame(frame, length) {
  if (!frame || typeof frame.length !== "number" || frame.length !== length) {
    throw new TypeError(`motion frame must hold ${length} numbers, got ${frame && frame.length}`);
  }
  for (let i = 0; i < length; i++) {
    if (!Number.isFinite(frame[i])) throw new TypeError(`motion frame value ${i} is not finite`);
  }
}

/**
 * A renderer drawing `assets` on `canvas` (its backing store becomes the assets' size).
 * Throws GLUnavailableError where WebGL2 is missing or its shaders fail.
 */
export function createFaceRenderer(canvas, assets) {
  const gl = canvas.getContext("webgl2", {
    alpha: false, antialias: false, depth: false, stencil: false, premultipliedAlpha: false,
    preserveDrawingBuffer: false, powerPreference: "low-power",
  });
  if (!gl) throw new GLUnavailableError("this browser gives no WebGL2 context");
  let lostCallbacks = [];
  let lost = false;
  const onLost = (event) => {
    event.preventDefault();
    if (lost) return;
    lost = true;
    for (const cb of lostCallbacks) cb("webglcontextlost");
  };
  canvas.addEventListener("webglcontextlost", onLost);

  const quad = gl.createBuffer();
  gl.bindBuffer(gl.ARRAY_BUFFER, quad);
  gl.bufferData(gl.ARRAY_BUFFER, new Float32Array([-1, -1, 1, -1, -1, 1, 1, 1]), gl.STATIC_DRAW);
  const copy = program(gl, BOX_VS, COPY_FS);
  const gaze = program(gl, BOX_VS, GAZE_FS);
  const warp = program(gl, WARP_VS, WARP_FS);
  const compose = program(gl, QUAD_VS, COMPOSE_FS);
  const floats = Boolean(gl.getExtension("EXT_color_buffer_float"));
  const gridPrograms = floats ? {
    cells: program(gl, WARP_VS, GRID_FS), blurH: program(gl, QUAD_VS, BLUR_H_FS),
    blurV: program(gl, QUAD_VS, BLUR_V_FS), fold: program(gl, QUAD_VS, FOLD_FS),
    map: program(gl, QUAD_VS, MAP_FS),
  } : {};
  const boxes = gl.createBuffer();
  let lidProgram = null;
  let mouthProgram = null;
  let u = null;
  let last = null;
  const vao = gl.createVertexArray();

  function setAssets(next) {
    if (!next || !next.manifest) throw new TypeError("setAssets needs loaded face assets");
    if (next.manifest.motion_frame_version !== MOTION_FRAME_VERSION) {
      throw new AssetError(`motion frame version ${next.manifest.motion_frame_version}, `
                           + `this page draws ${MOTION_FRAME_VERSION}`);
    }
    const fresh = upload(gl, next, floats);
    if (u) release(gl, u);
    for (const old of [lidProgram, mouthProgram]) if (old) gl.deleteProgram(old);
    lidProgram = program(gl, BOX_VS, frameShader(next.manifest.mouth.fields, "lids"));
    mouthProgram = program(gl, BOX_VS, frameShader(next.manifest.mouth.fields, "mouth"));
    u = fresh;
    canvas.width = canvas.height = u.size;
    last = null;
  }

  function drawQuad(p) {
    gl.bindVertexArray(vao);
    const loc = gl.getAttribLocation(p, "a_corner");
    gl.bindBuffer(gl.ARRAY_BUFFER, quad);
    gl.enableVertexAttribArray(loc);
    gl.vertexAttribPointer(loc, 2, gl.FLOAT, false, 0, 0);
    gl.drawArrays(gl.TRIANGLE_STRIP, 0, 4);
    gl.disableVertexAttribArray(loc);
  }

  /** Draw `p` over each box [x0, y0, x1, y1] (pixels; `flip` for the canvas). */
  function drawBoxes(p, list, flip) {
    const corners = new Float32Array(list.length * 12);
    list.forEach(([x0, y0, x1, y1], i) => {
      corners.set([x0, y0, x1, y0, x0, y1, x0, y1, x1, y0, x1, y1], i * 12);
    });
    gl.uniform1f(p.at("u_box_size"), u.size);
    gl.uniform1i(p.at("u_flip"), flip ? 1 : 0);
    gl.bindVertexArray(vao);
    const loc = gl.getAttribLocation(p, "a_corner");
    gl.bindBuffer(gl.ARRAY_BUFFER, boxes);
    gl.bufferData(gl.ARRAY_BUFFER, corners, gl.STREAM_DRAW);
    gl.enableVertexAttribArray(loc);
    gl.vertexAttribPointer(loc, 2, gl.FLOAT, false, 0, 0);
    gl.drawArrays(gl.TRIANGLES, 0, list.length * 6);
    gl.disableVertexAttribArray(loc);
  }

  function bind(unit, tex) {
    gl.activeTexture(gl.TEXTURE0 + unit);
    gl.bindTexture(gl.TEXTURE_2D, tex);
    return unit;
  }

  function gazePass(frame) {
    gl.bindFramebuffer(gl.FRAMEBUFFER, u.source.fbo);
    gl.viewport(0, 0, u.size, u.size);
    // the source keeps the portrait between frames: only the eyes the last frame moved
    // are put back (the whole of it once, for new assets)
    gl.useProgram(copy);
    gl.uniform1i(copy.at("u_fg"), bind(0, u.fg));
    const restore = u.sourceReady ? u.eyes.filter(Boolean).map((eye) => eye.box)
      : [[0, 0, u.size, u.size]];
    if (restore.length) drawBoxes(copy, restore, false);
    u.sourceReady = true;
    const moved = [];
    gl.useProgram(gaze);
    gl.uniform1i(gaze.at("u_fg"), bind(0, u.fg));
    for (let e = 0; e < 2; e++) {
      const eye = u.eyes[e];
      const dx = frame[12 + 2 * e], dy = frame[13 + 2 * e];
      const shift = Math.max(Math.abs(dx), Math.abs(dy));
      // eyes.py: below a quarter pixel the eye is the portrait's own
      const strength = eye && shift >= 0.25 ? Math.min(1, shift) : 0;
      if (strength > 0) moved.push(eye.box);
      gl.uniform1f(gaze.at(`u_strength[${e}]`), strength);
      gl.uniform2f(gaze.at(`u_shift[${e}]`), dx, dy);
      gl.uniform4iv(gaze.at(`u_box[${e}]`), eye ? eye.box : [0, 0, 0, 0]);
      const spare = u.fg;
      gl.uniform1i(gaze.at(`u_sclera[${e}]`), bind(1 + 3 * e, eye ? eye.sclera : spare));
      gl.uniform1i(gaze.at(`u_open[${e}]`), bind(2 + 3 * e, eye ? eye.open : u.grain));
      gl.uniform1i(gaze.at(`u_iris[${e}]`), bind(3 + 3 * e, eye ? eye.iris : u.grain));
    }
    if (moved.length) drawBoxes(gaze, moved, false);
  }

  function streamInto(p, buffer) {
    const F = STREAM_FLOATS * 4;
    const attrs = [["a_pos", 2, 0], ["a_m", 4, 8], ["a_c", 2, 24], ["a_box", 4, 32],
                   ["a_flags", 1, 48]]
      .map(([name, n, offset]) => [gl.getAttribLocation(p, name), n, offset])
      .filter(([loc]) => loc >= 0);
    gl.bindVertexArray(vao);
    gl.bindBuffer(gl.ARRAY_BUFFER, buffer);
    for (const [loc, n, offset] of attrs) {
      gl.enableVertexAttribArray(loc);
      gl.vertexAttribPointer(loc, n, gl.FLOAT, false, F, offset);
    }
    gl.drawArrays(gl.TRIANGLES, 0, u.mesh.t * 3);
    for (const [loc] of attrs) gl.disableVertexAttribArray(loc);
  }

  function into(t, size) {
    gl.bindFramebuffer(gl.FRAMEBUFFER, t.fbo);
    gl.viewport(0, 0, size, size);
  }

  /** The moved mesh into the warp texture: each pixel's own triangle's map, or (with float
   *  targets) mesh.py's grid map, smoothed along the head's outline, mended at folds. */
  function warpPass() {
    const { mesh, grid } = u;
    triangleStream(mesh, u.xy, u.order, u.assets.arrays.tri_flags, u.stream);
    gl.bindBuffer(gl.ARRAY_BUFFER, u.triBuf);
    gl.bufferSubData(gl.ARRAY_BUFFER, 0, u.stream);
    into(grid ? u.exact : u.warp, u.size);
    gl.clearColor(0, 0, 0, 0);
    gl.clear(gl.COLOR_BUFFER_BIT);
    gl.useProgram(warp);
    gl.uniform1f(warp.at("u_size"), u.size);
    gl.uniform1i(warp.at("u_src"), bind(0, u.source.tex));
    streamInto(warp, u.triBuf);
    if (!grid) return;
    const G = gridPrograms;
    const [cells, across, smooth] = u.cellTargets;
    into(cells, grid.cells);
    gl.clear(gl.COLOR_BUFFER_BIT);
    gl.useProgram(G.cells);
    gl.uniform1f(G.cells.at("u_size"), u.size);
    gl.uniform1f(G.cells.at("u_step"), grid.step);
    gl.uniform1f(G.cells.at("u_sliver_gain"), grid.sliver_gain ?? 1e9);
    grownStream(u.stream, mesh.t, GROW_CELLS * grid.step, u.grown);
    gl.bindBuffer(gl.ARRAY_BUFFER, u.gridBuf);
    gl.bufferData(gl.ARRAY_BUFFER, u.grown, gl.STREAM_DRAW);
    streamInto(G.cells, u.gridBuf);
    into(across, grid.cells);
    gl.useProgram(G.blurH);
    gl.uniform1i(G.blurH.at("u_grid"), bind(0, cells.tex));
    gl.uniform1fv(G.blurH.at("u_kernel"), grid.kernel);
    gl.uniform1i(G.blurH.at("u_cells"), grid.cells);
    drawQuad(G.blurH);
    into(smooth, grid.cells);
    gl.useProgram(G.blurV);
    gl.uniform1i(G.blurV.at("u_grid"), bind(0, cells.tex));
    gl.uniform1i(G.blurV.at("u_blur"), bind(1, across.tex));
    gl.uniform1fv(G.blurV.at("u_kernel"), grid.kernel);
    gl.uniform1fv(G.blurV.at("u_guard"), grid.guard.flat());
    gl.uniform1i(G.blurV.at("u_cells"), grid.cells);
    drawQuad(G.blurV);
    into(u.fold, grid.cells);
    gl.useProgram(G.fold);
    gl.uniform1i(G.fold.at("u_map"), bind(0, smooth.tex));
    gl.uniform1i(G.fold.at("u_cells"), grid.cells);
    gl.uniform1f(G.fold.at("u_step"), grid.step);
    gl.uniform1f(G.fold.at("u_limit"), grid.fold_limit);
    drawQuad(G.fold);
    into(u.warp, u.size);
    gl.useProgram(G.map);
    gl.uniform1i(G.map.at("u_src"), bind(0, u.source.tex));
    gl.uniform1i(G.map.at("u_exact"), bind(1, u.exact.tex));
    gl.uniform1i(G.map.at("u_map"), bind(2, smooth.tex));
    gl.uniform1i(G.map.at("u_fold"), bind(3, u.fold.tex));
    gl.uniform1i(G.map.at("u_cells"), grid.cells);
    gl.uniform1f(G.map.at("u_step"), grid.step);
    gl.uniform1f(G.map.at("u_size"), u.size);
    drawQuad(G.map);
  }

  function put(offset, points, limit) {
    const n = Math.min(points.length, limit);
    for (let i = 0; i < n; i++) {
      u.data[offset + 2 * i] = points[i][0];
      u.data[offset + 2 * i + 1] = points[i][1];
    }
    return n;
  }

  /** The lids, the lips' tint and the mouth of this frame: their boxes, their data in
   *  u_data, and a setter of their uniforms for either frame program. */
  function paintedParts(frame) {
    const a = u.assets;
    const m = a.manifest;
    const lids = eyelids(a, u.xy);
    const tint = evert(a, u.xy, frame[16]);
    const mouth = mouthOpening(a, u.xy, mouthAnchors(a, frame), frame[16]);
    lids.forEach((lid, e) => {
      if (!lid) return;
      const at = e === 0 ? DATA.eye0 : DATA.eye1;
      put(at, lid.region, 18);
      put(at + 36, lid.lid, 9);
    });
    if (tint) {
      put(DATA.outer, tint.outer, 20);
      put(DATA.inner, tint.inner, 20);
    }
    const counts = {};
    if (mouth) {
      const list = (offset, values, limit) => {
        const n = Math.min(values.length, limit);
        u.data.set(values.slice(0, n), offset);
        return n;
      };
      counts.u_mouth_n = put(DATA.mouth, mouth.outline, 96);
      counts.u_upper_n = list(DATA.upperU, mouth.upperU, 16);
      list(DATA.upperV, mouth.upperV, 16);
      counts.u_lower_n = list(DATA.lowerU, mouth.lowerU, 16);
      list(DATA.lowerV, mouth.lowerV, 16);
      counts.u_lip_n = list(DATA.lipU, mouth.lipU, 64);
      list(DATA.lipV, mouth.lipV, 64);
    }
    const uniforms = (p) => {
      gl.uniform1i(p.at("u_warp"), bind(0, u.warp.tex));
      gl.uniform1i(p.at("u_plate"), bind(1, u.plate));
      gl.uniform1i(p.at("u_data"), bind(2, u.dataTex));
      gl.uniform1i(p.at("u_grain"), bind(3, u.grain));
      gl.uniform1i(p.at("u_size"), u.size);
      gl.uniform1i(p.at("u_to_canvas"), 1);
      gl.uniform1i(p.at("u_grey"), m.grey ? 1 : 0);
      gl.uniform3fv(p.at("u_lash"), m.eyelids.lash_rgb);
      lids.forEach((lid, e) => {
        gl.uniform1i(p.at(`u_lid_on[${e}]`), lid ? 1 : 0);
        if (!lid) return;
        gl.uniform1i(p.at(`u_lid_at[${e}]`), e === 0 ? DATA.eye0 : DATA.eye1);
        gl.uniform4iv(p.at(`u_lid_box[${e}]`), lid.box);
        gl.uniform3fv(p.at(`u_lid_colour[${e}]`), lid.colour);
        gl.uniform1f(p.at(`u_lid_mean[${e}]`), lid.colourMean);
        gl.uniform1f(p.at(`u_lid_strength[${e}]`), lid.strength);
        gl.uniform1f(p.at(`u_lid_thick[${e}]`), lid.thick);
      });
      gl.uniform1i(p.at("u_evert_on"), tint ? 1 : 0);
      if (tint) {
        gl.uniform4iv(p.at("u_evert_box"), tint.box);
        gl.uniform1f(p.at("u_evert_weight"), tint.weight);
        gl.uniform1f(p.at("u_evert_sigma"), tint.sigma);
        gl.uniform3fv(p.at("u_evert_gain"), m.mouth.evert_gain);
      }
      gl.uniform1i(p.at("u_mouth_on"), mouth ? 1 : 0);
      if (!mouth) return;
      for (const [name, n] of Object.entries(counts)) gl.uniform1i(p.at(name), n);
      gl.uniform4iv(p.at("u_mouth_box"), mouth.box);
      gl.uniform2fv(p.at("u_skull_o"), mouth.skull.origin);
      gl.uniform4fv(p.at("u_skull_m"), mouth.skull.inv);
      gl.uniform2fv(p.at("u_jaw_o"), mouth.jaw.origin);
      gl.uniform4fv(p.at("u_jaw_m"), mouth.jaw.inv);
      const C = m.mouth.constants;
      const scalars = {
        u_ppu: mouth.ppu, u_height: mouth.height, u_centre_u: mouth.centreU, u_half: mouth.half,
        u_deep_from: mouth.deepFrom, u_tongue_top: mouth.tongueTop, u_shown: mouth.shown,
        u_band: mouth.band, u_open_light: mouth.openLight, u_dim: mouth.dim,
        u_alpha: mouth.alpha, u_grain_amp: C.grain_amp, u_warm: C.warm,
        u_lower_dim: C.lower_dim,
      };
      for (const [name, value] of Object.entries(scalars)) gl.uniform1f(p.at(name), value);
      gl.uniform3fv(p.at("u_col"), mouth.colours.flat());
    };
    return {
      lidBoxes: lids.filter(Boolean).map((lid) => lid.box),
      // the tint's box holds the mouth's when both are painted (one quad, no pixel twice)
      mouthBoxes: tint ? [tint.box] : mouth ? [mouth.box] : [],
      uniforms,
    };
  }

  function framePass(frame) {
    gl.bindFramebuffer(gl.FRAMEBUFFER, null);
    gl.viewport(0, 0, u.size, u.size);
    gl.useProgram(compose);
    gl.uniform1i(compose.at("u_warp"), bind(0, u.warp.tex));
    gl.uniform1i(compose.at("u_plate"), bind(1, u.plate));
    gl.uniform1i(compose.at("u_size"), u.size);
    gl.uniform1i(compose.at("u_grey"), u.assets.manifest.grey ? 1 : 0);
    drawQuad(compose);
    const parts = paintedParts(frame);
    if (!parts.lidBoxes.length && !parts.mouthBoxes.length) return;
    bind(2, u.dataTex);
    gl.texSubImage2D(gl.TEXTURE_2D, 0, 0, 0, DATA_WIDTH, 1, gl.RED, gl.FLOAT, u.data);
    for (const [p, list] of [[lidProgram, parts.lidBoxes], [mouthProgram, parts.mouthBoxes]]) {
      if (!list.length) continue;
      gl.useProgram(p);
      parts.uniforms(p);
      drawBoxes(p, list, true);
    }
  }

  function draw(frame) {
    if (lost || gl.isContextLost()) return false;
    checkFrame(frame, HEADER + u.mesh.k);
    last = Float32Array.from(frame);
    moveVertices(u.mesh, last, u.xy, u.z);
    drawOrder(u.mesh, u.z, u.order, u.depth);
    gazePass(last);
    warpPass();
    framePass(last);
    return true;
  }

  setAssets(assets);
  return {
    get size() { return u.size; },
    get assets() { return u.assets; },
    get frameLength() { return HEADER + u.mesh.k; },
    draw,
    setAssets,
    restFrame: () => restFrame(HEADER + u.mesh.k),
    onContextLost(cb) {
      lostCallbacks.push(cb);
      if (lost) cb("webglcontextlost");
    },
    /** The canvas's pixels (RGBA, top row first) of the last frame, drawn again. */
    readPixels() {
      draw(last ?? restFrame(HEADER + u.mesh.k));
      const px = new Uint8Array(u.size * u.size * 4);
      gl.readPixels(0, 0, u.size, u.size, gl.RGBA, gl.UNSIGNED_BYTE, px);
      const row = u.size * 4;
      const out = new Uint8Array(px.length);
      for (let y = 0; y < u.size; y++) out.set(px.subarray((u.size - 1 - y) * row, (u.size - y) * row), y * row);
      return out;
    },
    dispose() {
      canvas.removeEventListener("webglcontextlost", onLost);
      lostCallbacks = [];
      if (u && !gl.isContextLost()) {
        release(gl, u);
        for (const prog of [copy, gaze, warp, compose, lidProgram, mouthProgram,
                           ...Object.values(gridPrograms)]) gl.deleteProgram(prog);
        gl.deleteBuffer(quad);
        gl.deleteBuffer(boxes);
        gl.deleteVertexArray(vao);
      }
      u = null;
    },
  };
}
