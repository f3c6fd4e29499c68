// Opens a compute backend library (kernels/: libnanochat_cpu.so, libnanochat_cuda.so) for a requested
// device and offers what its callers need: the symbols, the devices it can run on, and status checks that
// turn the library's last error into a UserError.
//
//   --device cpu    libnanochat_cpu.so
//   --device cuda   libnanochat_cuda.so, which must load and report at least one GPU
//   --device auto   cuda when that library loads and reports a GPU, else cpu
// NANOCHAT_COMPUTE_LIB points at one specific library file instead (e.g. the emulated CUDA build, to run
// the whole TypeScript stack on it); it then serves every request whose device it has.
//
// A library is opened first with nc_abi_version alone, so one built for another ABI version fails with a
// message saying so instead of a missing-symbol error or a crash.
import {
  dlopenOrExplain,
  libraryPath,
  type LibrarySpec,
  type LocateOptions,
  sharedLibraryName,
} from "./loader.ts";
import { type ComputeSymbols, computeSymbols, versionSymbols } from "./compute_symbols.ts";
import {
  DEVICE_INFO_SIZE,
  NcDevice,
  type NcDeviceInfo,
  NcStatus,
  unpackDeviceInfo,
} from "./compute_structs.ts";
import { UserError } from "../src/common/errors.ts";
import { ensureCudaLibsEnv } from "./cuda_libs.ts";

/** The ABI version these bindings were written against (NC_ABI_VERSION). */
export const NC_ABI_VERSION = 2;

/** What `--device` accepts. */
export const DEVICE_CHOICES = ["auto", "cpu", "cuda"] as const;
/** A requested device: a kind, or auto. */
export type DeviceRequest = typeof DEVICE_CHOICES[number];

/** The environment variable that names one specific compute library file. */
export const COMPUTE_LIB_ENV = "NANOCHAT_COMPUTE_LIB";

const BUILD_HINT = "deno task build";

/** One opened backend library. */
export interface ComputeLibrary {
  readonly symbols: ComputeSymbols;
  /** The file it was opened from. */
  readonly path: string;
  /** nc_backend_name(): "cpu", "cuda", "cuda_emu". */
  readonly backend: string;
  /** Its devices (nc_device_count / nc_device_info), read when it was opened. */
  readonly devices: readonly NcDeviceInfo[];
}

const opened = new Map<string, ComputeLibrary>();

function spec(stem: string): LibrarySpec {
  return {
    stem,
    envVar: COMPUTE_LIB_ENV,
    builtUrl: new URL(`../kernels/build/${sharedLibraryName(stem)}`, import.meta.url),
    buildHint: BUILD_HINT,
  };
}

/** Opens (once per file) the library at `path` after checking its ABI version; reads its devices. */
export function openComputeLibrary(path: string): ComputeLibrary {
  const known = opened.get(path);
  if (known) return known;
  const probe = dlopenOrExplain(path, versionSymbols, BUILD_HINT);
  let version: number;
  try {
    version = probe.symbols.nc_abi_version();
  } finally {
    probe.close();
  }
  if (version !== NC_ABI_VERSION) {
    throw new UserError(
      `the compute library ${path} implements ABI version ${version}, this program needs version ` +
        `${NC_ABI_VERSION}: rebuild it with \`${BUILD_HINT}\` (or point ${COMPUTE_LIB_ENV} at a matching build)`,
    );
  }
  const symbols = dlopenOrExplain(path, computeSymbols, BUILD_HINT).symbols;
  const lib: ComputeLibrary = {
    symbols,
    path,
    backend: cstr(symbols.nc_backend_name()),
    devices: readDevices(symbols, path),
  };
  opened.set(path, lib);
  return lib;
}

function readDevices(symbols: ComputeSymbols, path: string): NcDeviceInfo[] {
  const count = new Int32Array(1);
  const status = symbols.nc_device_count(count);
  if (status !== NcStatus.OK) {
    throw new UserError(`${path} found no usable device: ${cstr(symbols.nc_last_error(null))}`);
  }
  const buf = new Uint8Array(DEVICE_INFO_SIZE);
  return Array.from({ length: count[0] }, (_, i) => {
    buf.fill(0);
    checkWith(symbols, symbols.nc_device_info(i, buf), `describing device ${i} of ${path}`, null);
    return unpackDeviceInfo(buf);
  });
}

/** The device kind a request names ("cpu" -> NC_DEVICE_CPU), or null for auto. */
function kindOf(request: DeviceRequest): number | null {
  return request === "auto" ? null : request === "cpu" ? NcDevice.CPU : NcDevice.CUDA;
}

/**
 * The library serving `request`. Throws a UserError that says what to do when the device is not there:
 * no CUDA library, a CUDA library without a GPU, or NANOCHAT_COMPUTE_LIB naming another device's library.
 */
export function computeLibrary(request: DeviceRequest = "cpu", opts: LocateOptions = {}): ComputeLibrary {
  if (!(DEVICE_CHOICES as readonly string[]).includes(request)) {
    throw new UserError(`unknown device "${request}": use one of ${DEVICE_CHOICES.join(", ")}`);
  }
  const override = Deno.env.get(COMPUTE_LIB_ENV);
  if (override) {
    const lib = openComputeLibrary(override);
    const kind = kindOf(request);
    if (kind !== null && !lib.devices.some((d) => d.device === kind)) {
      throw new UserError(
        `--device ${request}: ${COMPUTE_LIB_ENV}=${override} is the ${lib.backend} backend, which has no ` +
          `${request} device; unset ${COMPUTE_LIB_ENV} or pass --device auto`,
      );
    }
    return lib;
  }
  if (request === "cpu") return openComputeLibrary(libraryPath(spec("nanochat_cpu"), opts));
  let cuda: ComputeLibrary;
  ensureCudaLibsEnv(); // cuBLASLt and cuDNN from PyTorch's pip wheels when the system has none
  try {
    cuda = openComputeLibrary(libraryPath(spec("nanochat_cuda"), opts));
  } catch (err) {
    if (request === "auto") return computeLibrary("cpu", opts);
    throw new UserError(
      `--device cuda: the CUDA backend is not available (${
        (err as Error).message.split("\n")[0].replace(/\.$/, "")
      }). ` +
        `Build it on a machine with the CUDA toolkit (\`${BUILD_HINT}\`), or use --device cpu`,
    );
  }
  if (cuda.devices.length > 0) return cuda;
  if (request === "auto") return computeLibrary("cpu", opts);
  throw new UserError(`--device cuda: ${cuda.path} reports no GPU on this machine; use --device cpu`);
}

/**
 * The built cpu library whatever NANOCHAT_COMPUTE_LIB says: the reference the GPU self-test compares a
 * cuda backend (real or emulated) against.
 */
export function cpuReferenceLibrary(opts: LocateOptions = {}): ComputeLibrary {
  const override = Deno.env.get(COMPUTE_LIB_ENV);
  if (override === undefined) return computeLibrary("cpu", opts);
  Deno.env.delete(COMPUTE_LIB_ENV);
  try {
    return computeLibrary("cpu", opts);
  } finally {
    Deno.env.set(COMPUTE_LIB_ENV, override);
  }
}

/** nc_backend_name() of the library serving `request`: "cpu", "cuda", "cuda_emu". */
export function backendName(request: DeviceRequest = "auto"): string {
  return computeLibrary(request).backend;
}

/** Throws a UserError with the library's message when `status` is nonzero. */
export function checkWith(
  symbols: ComputeSymbols,
  status: number,
  what: string,
  ctx: Deno.PointerValue,
): void {
  if (status === NcStatus.OK) return;
  const msg = cstr(symbols.nc_last_error(ctx)) || cstr(symbols.nc_status_string(status)) ||
    `error code ${status}`;
  throw new UserError(`${what}: ${msg}`);
}

/** A C string returned by the library ("" for NULL). */
export function cstr(p: Deno.PointerValue): string {
  return p === null ? "" : Deno.UnsafePointerView.getCString(p);
}

/** A one-slot out parameter for a handle written by the library. */
export function handleSlot(): BigUint64Array<ArrayBuffer> {
  return new BigUint64Array(1);
}

/** The handle a create call wrote into `slot`. */
export function handleFrom(slot: BigUint64Array, what: string): Deno.PointerObject {
  const p = Deno.UnsafePointer.create(slot[0]);
  if (p === null) throw new UserError(`${what}: the library returned no handle`);
  return p;
}
