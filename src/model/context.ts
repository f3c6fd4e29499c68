// A compute context: the backend library chosen for a device (--device cpu|cuda|auto), the device it
// runs on, its thread pool and error reporting. Models and communicators are created on a context.
import {
  checkWith,
  type ComputeLibrary,
  computeLibrary,
  type DeviceRequest,
  handleFrom,
  handleSlot,
} from "../../ffi/compute.ts";
import {
  NC_CONTEXT_PROFILE,
  NcDevice,
  type NcDeviceInfo,
  packContextConfig,
} from "../../ffi/compute_structs.ts";
import { UserError } from "../common/errors.ts";
import { type Holder, live, newHolder, own, release } from "./handles.ts";

export { DEVICE_CHOICES, type DeviceRequest } from "../../ffi/compute.ts";

/** A device as the program names it. */
export interface DeviceInfo extends NcDeviceInfo {
  /** "cpu" or "cuda". */
  kind: "cpu" | "cuda";
  /** The backend library serving it ("cpu", "cuda", "cuda_emu"). */
  backend: string;
}

/** Options of ComputeContext.create. */
export interface ContextOptions {
  /** cpu, cuda, or auto (cuda when its library loads and reports a GPU, else cpu). Default cpu. */
  device?: DeviceRequest;
  /** Which device of that kind (the GPU ordinal); default 0. */
  deviceIndex?: number;
  /** CPU worker threads for long calls; 0 (default) = the OpenMP default. */
  threads?: number;
  /** Seed for device-side randomness (unused on CPU). */
  seed?: number | bigint;
  /** Collect per-phase timings (read with GPT.profile()). */
  profile?: boolean;
  /** Use this opened library instead of the one `device` selects (e.g. the cpu reference). */
  library?: ComputeLibrary;
}

/** The devices a request can use (an empty list when its backend is not available). */
export function listDevices(request: DeviceRequest = "auto"): DeviceInfo[] {
  const lib = computeLibrary(request);
  return lib.devices.map((d) => describe(lib, d));
}

function describe(lib: ComputeLibrary, d: NcDeviceInfo): DeviceInfo {
  return { ...d, kind: d.device === NcDevice.CUDA ? "cuda" : "cpu", backend: lib.backend };
}

/** A compute context on one device. Models are created on it. */
export class ComputeContext {
  /** The backend library of the device. */
  readonly lib: ComputeLibrary;
  /** The device the context runs on. */
  readonly device: DeviceInfo;
  readonly #holder: Holder;

  private constructor(lib: ComputeLibrary, device: DeviceInfo, holder: Holder) {
    this.lib = lib;
    this.device = device;
    this.#holder = holder;
    own(this, holder);
  }

  /** Creates a context on the requested device (the CPU by default). */
  static create(opts: ContextOptions = {}): ComputeContext {
    const threads = opts.threads ?? 0;
    if (!Number.isInteger(threads) || threads < 0) {
      throw new UserError(`threads must be a non-negative integer, got ${threads}`);
    }
    const lib = opts.library ?? computeLibrary(opts.device ?? "cpu");
    const index = opts.deviceIndex ?? 0;
    const device = lib.devices[index];
    if (!Number.isInteger(index) || device === undefined) {
      throw new UserError(
        `device index ${index}: the ${lib.backend} backend has ${lib.devices.length} device(s) ` +
          `(indices 0..${lib.devices.length - 1})`,
      );
    }
    const slot = handleSlot();
    const cfg = packContextConfig({
      device: device.device,
      deviceIndex: index,
      numThreads: threads,
      seed: opts.seed ?? 0,
      flags: opts.profile ? NC_CONTEXT_PROFILE : 0,
    });
    checkWith(lib.symbols, lib.symbols.nc_context_create(cfg, slot), "creating the compute context", null);
    const ptr = handleFrom(slot, "creating the compute context");
    return new ComputeContext(
      lib,
      describe(lib, device),
      newHolder(ptr, (p) => lib.symbols.nc_context_destroy(p), null),
    );
  }

  /** The raw handle. */
  get handle(): Deno.PointerObject {
    return live(this.#holder, "the compute context");
  }

  /** One line for logs: "cpu: Intel Xeon (2 cores, 23.5 GiB)". */
  describe(): string {
    const d = this.device;
    const gib = (d.totalMemory / 2 ** 30).toFixed(1);
    const sm = d.kind === "cuda" ? `, sm_${d.computeCapability.join("")}` : "";
    return `${d.kind}${d.kind === "cuda" ? `:${d.index}` : ""}: ${d.name} (${d.cores} ${
      d.kind === "cuda" ? "SMs" : "cores"
    }, ${gib} GiB${sm}; ${this.lib.backend} backend)`;
  }

  /** Destroys the context; every model created on it must have been freed first. Idempotent. */
  destroy(): void {
    if (this.#holder.ptr === null) return;
    checkWith(this.lib.symbols, release(this.#holder, false), "destroying the compute context", null);
  }
}
