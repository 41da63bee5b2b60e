/** Options of the SDK's error constructors. */
export interface ModalErrorOptions {
  /** The gRPC status code, when the error came from a gRPC call. */
  grpcStatus?: number;
  /** The underlying error. */
  cause?: unknown;
}
/** Base class of every error the SDK throws. Branch on `code`, which is stable. */
export declare class ModalError extends Error {
  constructor(message?: string, options?: ModalErrorOptions);
  /** Stable error code, e.g. `"NOT_FOUND"`. */
  readonly code: string;
  /** The gRPC status code, when the error came from a gRPC call. */
  readonly grpcStatus: number | undefined;
  static readonly code: string;
}
// <generated from Rust by src/js/lists.rs: do not edit>
/** The object (app, sandbox, secret, volume, image) does not exist. `code: "NOT_FOUND"` */
export declare class NotFoundError extends ModalError {}
/** An object with that name already exists. `code: "ALREADY_EXISTS"` */
export declare class AlreadyExistsError extends ModalError {}
/** Bad input: wrong type, missing field, out-of-range value. `code: "INVALID"` */
export declare class InvalidError extends ModalError {}
/** The operation conflicts with the object's state. `code: "CONFLICT"` */
export declare class ConflictError extends ModalError {}
/** Credentials were missing or rejected. `code: "AUTH"` */
export declare class AuthError extends ModalError {}
/** The credentials are valid but do not allow this call: a scoped token's scopes, tags, app or sandboxes do not cover it. `code: "PERMISSION_DENIED"` */
export declare class PermissionDeniedError extends ModalError {}
/** A deadline passed. `code: "TIMEOUT"` */
export declare class TimeoutError extends ModalError {}
/** The sandbox timed out. `code: "SANDBOX_TIMEOUT"` */
export declare class SandboxTimeoutError extends ModalError {}
/** The client or handle was closed. `code: "CLIENT_CLOSED"` */
export declare class ClientClosedError extends ModalError {}
/** A quota or capacity limit was hit. `code: "RESOURCE_EXHAUSTED"` */
export declare class ResourceExhaustedError extends ModalError {}
/** Any other server or network failure. `code: "REMOTE"` */
export declare class RemoteError extends ModalError {}
/** Something unexpected happened at run time (e.g. a snapshot answered without an image). `code: "EXECUTION"` */
export declare class ExecutionError extends ModalError {}
/** A retryable internal error of the server (Modal JS's class; not thrown here yet). `code: "INTERNAL_FAILURE"` */
export declare class InternalFailure extends ModalError {}
/** A snapshot is done and failed (Modal JS's class; not thrown here yet). `code: "SNAPSHOT_CREATION"` */
export declare class SnapshotCreationError extends ModalError {}
/** A Modal Function timed out (Modal JS's class, for ported code; functions are not part of this package). `code: "FUNCTION_TIMEOUT"` */
export declare class FunctionTimeoutError extends ModalError {}
/** The Queue is empty (Modal JS's class, for ported code; queues are not part of this package). `code: "QUEUE_EMPTY"` */
export declare class QueueEmptyError extends ModalError {}
/** The Queue is full (Modal JS's class, for ported code; queues are not part of this package). `code: "QUEUE_FULL"` */
export declare class QueueFullError extends ModalError {}
/** A filesystem operation in the sandbox failed; base of the specific filesystem errors. `code: "FILESYSTEM"` */
export declare class SandboxFilesystemError extends ModalError {}
/** The path does not exist in the sandbox. `code: "FILESYSTEM_NOT_FOUND"` */
export declare class SandboxFilesystemNotFoundError extends SandboxFilesystemError {}
/** A file was expected; the path is a directory. `code: "FILESYSTEM_IS_A_DIRECTORY"` */
export declare class SandboxFilesystemIsADirectoryError extends SandboxFilesystemError {}
/** A directory was expected; the path (or a parent) is not one. `code: "FILESYSTEM_NOT_A_DIRECTORY"` */
export declare class SandboxFilesystemNotADirectoryError extends SandboxFilesystemError {}
/** The directory is not empty. `code: "FILESYSTEM_DIRECTORY_NOT_EMPTY"` */
export declare class SandboxFilesystemDirectoryNotEmptyError extends SandboxFilesystemError {}
/** The path already exists. `code: "FILESYSTEM_PATH_ALREADY_EXISTS"` */
export declare class SandboxFilesystemPathAlreadyExistsError extends SandboxFilesystemError {}
/** Permission denied (including writes to a read-only mount). `code: "FILESYSTEM_PERMISSION_DENIED"` */
export declare class SandboxFilesystemPermissionError extends SandboxFilesystemError {}
/** The file is larger than the sandbox allows reading at once. `code: "FILESYSTEM_FILE_TOO_LARGE"` */
export declare class SandboxFilesystemFileTooLargeError extends SandboxFilesystemError {}
// </generated>
