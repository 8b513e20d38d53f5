export {
  ModelType,
  PieceType,
  SentencePieceModelError,
  parseSentencePieceModel,
  type NormalizerSpecInfo,
  type SentencePieceEntry,
  type SentencePieceModelProto,
  type TrainerSpecInfo,
} from './sentencepiece-model.js';
export { SentencePiece } from './sentencepiece.js';
export {
  ChatTemplateError,
  Tokenizer,
  TokenizerLoadError,
  type AddedToken,
  type ChatMessage,
  type ChatTemplateOptions,
  type DecodeOptions,
  type EncodeOptions,
  type StreamDecoder,
  type TokenizerConfig,
} from './tokenizer.js';
export {
  AUTO_THINK_SUFFIX,
  NO_THINK_SUFFIX,
  PANGU_EOS,
  THINK_END,
  THINK_START,
  ReasoningSplitter,
  applyThinkingMode,
  detectThinkingMode,
  splitReasoning,
  type ReasoningDelta,
  type ReasoningSplitterOptions,
  type ThinkingMode,
} from './thinking.js';
