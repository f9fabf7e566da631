// A portrait's face-gl asset container (avatar/render/browser_assets.py), read in the
// browser: the manifest, its typed arrays and its decoded images.
//
// Layout: "AFGL", uint32 LE version, uint32 LE manifest length, the JSON manifest,
// zero padding to 8 bytes, then the blob section (offsets in the manifest relative to
// its start). Raw arrays are little-endian; images are PNGs used byte for byte
// (no premultiplication, no colour conversion).

export const CONTAINER_VERSION = 1;
export const FORMAT = "avatar-forcing/face-gl";
const ALIGN = 8;
const TYPED = { float32: Float32Array, int32: Int32Array, uint8: Uint8Array };

/** A container that cannot be read: says what is wrong with it. */
export class AssetError extends Error {
  constructor(message) {
    super(`face-gl assets: ${message}`);
    this.name = "AssetError";
  }
}

function hex(buffer) {
  return Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** sha256 of the bytes (hex), or null where WebCrypto is not offered (an insecure page). */
async function digest(bytes) {
  const subtle = globalThis.crypto && globalThis.crypto.subtle;
  return subtle ? hex(await subtle.digest("SHA-256", bytes)) : null;
}

/** The manifest and blob section of a container's bytes; AssetError if malformed. */
export function parseContainer(buffer) {
  const bytes = new Uint8Array(buffer);
  if (bytes.length < 12 || String.fromCharCode(...bytes.subarray(0, 4)) !== "AFGL") {
    throw new AssetError("not a face-gl container (no 'AFGL' magic)");
  }
  const view = new DataView(buffer);
  const version = view.getUint32(4, true);
  const length = view.getUint32(8, true);
  if (version !== CONTAINER_VERSION) {
    throw new AssetError(`container version ${version}, this page reads ${CONTAINER_VERSION}`);
  }
  if (12 + length > bytes.length) throw new AssetError("truncated inside its manifest");
  let manifest;
  try {
    manifest = JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + length)));
  } catch (error) {
    throw new AssetError(`manifest is not JSON (${error.message})`);
  }
  if (manifest.format !== FORMAT) throw new AssetError(`unknown format ${manifest.format}`);
  const start = 12 + length + ((ALIGN - ((12 + length) % ALIGN)) % ALIGN);
  return { manifest, blobs: buffer.slice(start) };
}

function array(blobs, manifest, name) {
  const entry = manifest.blobs[name];
  if (!entry) throw new AssetError(`missing blob '${name}'`);
  const Type = TYPED[entry.dtype];
  if (!Type) throw new AssetError(`blob '${name}' has dtype ${entry.dtype}, not an array`);
  if (entry.offset + entry.length > blobs.byteLength) {
    throw new AssetError(`blob '${name}' runs past the container's end`);
  }
  // copied out: typed views need their own alignment and the blob section is shared
  return new Type(blobs.slice(entry.offset, entry.offset + entry.length));
}

async function image(blobs, manifest, name) {
  const entry = manifest.blobs[name];
  if (!entry || entry.dtype !== "png") throw new AssetError(`missing image '${name}'`);
  const png = new Blob([blobs.slice(entry.offset, entry.offset + entry.length)],
                       { type: "image/png" });
  try {
    return await createImageBitmap(png, { premultiplyAlpha: "none",
                                          colorSpaceConversion: "none" });
  } catch (error) {
    throw new AssetError(`image '${name}' does not decode (${error.message})`);
  }
}

/**
 * Load a container from a URL, an ArrayBuffer or a Uint8Array: {hash, manifest, size,
 * arrays: {name: TypedArray}, images: {foreground, plate}, bytes}.
 */
export async function loadFaceAssets(source) {
  let buffer;
  if (typeof source === "string" || source instanceof URL) {
    const response = await fetch(source);
    if (!response.ok) throw new AssetError(`GET ${source} answered ${response.status}`);
    buffer = await response.arrayBuffer();
  } else if (source instanceof ArrayBuffer) {
    buffer = source;
  } else if (ArrayBuffer.isView(source)) {
    buffer = source.buffer.slice(source.byteOffset, source.byteOffset + source.byteLength);
  } else {
    throw new AssetError("give a URL, an ArrayBuffer or a Uint8Array");
  }
  const { manifest, blobs } = parseContainer(buffer);
  const arrays = {};
  for (const [name, entry] of Object.entries(manifest.blobs)) {
    if (entry.dtype !== "png") arrays[name] = array(blobs, manifest, name);
  }
  const [foreground, plate] = await Promise.all([
    image(blobs, manifest, "foreground"), image(blobs, manifest, "plate")]);
  return { hash: await digest(buffer), manifest, size: manifest.size, arrays,
           images: { foreground, plate }, bytes: buffer.byteLength };
}
