// Where model code gets its weights: a Hugging Face checkpoint directory (Checkpoint) or a GGUF
// file seen under Hugging Face tensor names (GgufTensorSource). Tensors are read one at a time.
import type { TensorDType } from './ggml-quants.js';

export interface SourceTensorInfo {
  /** The name model code asks for (Hugging Face naming). */
  name: string;
  dtype: TensorDType;
  /** Row-major shape, innermost dimension last. */
  shape: number[];
  /** The file holding the tensor, for messages. */
  file: string;
  byteLength: number;
}

export interface TensorSource {
  /** The directory or file the tensors come from, for messages. */
  readonly location: string;
  names(): string[];
  has(name: string): boolean;
  /** Throws a FormatError naming the tensor when it is absent. */
  info(name: string): SourceTensorInfo;
  /** Raw little-endian bytes of one tensor, read now. */
  read(name: string): Uint8Array;
  /**
   * Reads dst.byteLength bytes of one tensor, starting `start` bytes into it, straight into `dst`
   * (e.g. a view of the memory the weights end up in, so loading makes no per-tensor copies).
   */
  readInto?(name: string, start: number, dst: Uint8Array): void;
  close(): void;
}
