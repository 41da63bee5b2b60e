//! The RPCs as typed constants: path, request and response types. Generated once from
//! proto/modal_proto/*.proto (service blocks); keep in step with them.

use modal_proto::client as pb;
use modal_proto::task_command_router as tcr;

use crate::rpc::Rpc;

/// `modal.client.ModalClient/AppGetOrCreate`
pub const APP_GET_OR_CREATE: Rpc<pb::AppGetOrCreateRequest, pb::AppGetOrCreateResponse> =
    Rpc::new("/modal.client.ModalClient/AppGetOrCreate");
/// `modal.client.ModalClient/EnvironmentGetOrCreate`
pub const ENVIRONMENT_GET_OR_CREATE: Rpc<
    pb::EnvironmentGetOrCreateRequest,
    pb::EnvironmentGetOrCreateResponse,
> = Rpc::new("/modal.client.ModalClient/EnvironmentGetOrCreate");
/// `modal.client.ModalClient/AuthTokenGet`
pub const AUTH_TOKEN_GET: Rpc<pb::AuthTokenGetRequest, pb::AuthTokenGetResponse> =
    Rpc::new("/modal.client.ModalClient/AuthTokenGet");
/// `modal.client.ModalClient/ClientHello`
pub const CLIENT_HELLO: Rpc<(), pb::ClientHelloResponse> =
    Rpc::new("/modal.client.ModalClient/ClientHello");
/// `modal.client.ModalClient/ImageGetOrCreate`
pub const IMAGE_GET_OR_CREATE: Rpc<pb::ImageGetOrCreateRequest, pb::ImageGetOrCreateResponse> =
    Rpc::new("/modal.client.ModalClient/ImageGetOrCreate");
/// `modal.client.ModalClient/ImageJoinStreaming` (server stream)
pub const IMAGE_JOIN_STREAMING: Rpc<pb::ImageJoinStreamingRequest, pb::ImageJoinStreamingResponse> =
    Rpc::new("/modal.client.ModalClient/ImageJoinStreaming");
/// `modal.client.ModalClient/ImageFromId`
pub const IMAGE_FROM_ID: Rpc<pb::ImageFromIdRequest, pb::ImageFromIdResponse> =
    Rpc::new("/modal.client.ModalClient/ImageFromId");
/// `modal.client.ModalClient/SecretGetOrCreate`
pub const SECRET_GET_OR_CREATE: Rpc<pb::SecretGetOrCreateRequest, pb::SecretGetOrCreateResponse> =
    Rpc::new("/modal.client.ModalClient/SecretGetOrCreate");
/// `modal.client.ModalClient/VolumeGetOrCreate`
pub const VOLUME_GET_OR_CREATE: Rpc<pb::VolumeGetOrCreateRequest, pb::VolumeGetOrCreateResponse> =
    Rpc::new("/modal.client.ModalClient/VolumeGetOrCreate");
/// `modal.client.ModalClient/SandboxCreateV2`
pub const SANDBOX_CREATE_V2: Rpc<pb::SandboxCreateV2Request, pb::SandboxCreateV2Response> =
    Rpc::new("/modal.client.ModalClient/SandboxCreateV2");
/// `modal.client.ModalClient/SandboxCreate`
pub const SANDBOX_CREATE: Rpc<pb::SandboxCreateRequest, pb::SandboxCreateResponse> =
    Rpc::new("/modal.client.ModalClient/SandboxCreate");
/// `modal.client.ModalClient/SandboxGetTaskId`
pub const SANDBOX_GET_TASK_ID: Rpc<pb::SandboxGetTaskIdRequest, pb::SandboxGetTaskIdResponse> =
    Rpc::new("/modal.client.ModalClient/SandboxGetTaskId");
/// `modal.client.ModalClient/TaskGetCommandRouterAccess`
pub const TASK_GET_COMMAND_ROUTER_ACCESS: Rpc<
    pb::TaskGetCommandRouterAccessRequest,
    pb::TaskGetCommandRouterAccessResponse,
> = Rpc::new("/modal.client.ModalClient/TaskGetCommandRouterAccess");
/// `modal.client.ModalClient/SandboxGetCommandRouterAccess`
pub const SANDBOX_GET_COMMAND_ROUTER_ACCESS: Rpc<
    pb::SandboxGetCommandRouterAccessRequest,
    pb::SandboxGetCommandRouterAccessResponse,
> = Rpc::new("/modal.client.ModalClient/SandboxGetCommandRouterAccess");
/// `modal.client.ModalClient/SandboxWait`
pub const SANDBOX_WAIT: Rpc<pb::SandboxWaitRequest, pb::SandboxWaitResponse> =
    Rpc::new("/modal.client.ModalClient/SandboxWait");
/// `modal.client.ModalClient/SandboxWaitV2`
pub const SANDBOX_WAIT_V2: Rpc<pb::SandboxWaitRequest, pb::SandboxWaitResponse> =
    Rpc::new("/modal.client.ModalClient/SandboxWaitV2");
/// `modal.client.ModalClient/SandboxTerminate`
pub const SANDBOX_TERMINATE: Rpc<pb::SandboxTerminateRequest, pb::SandboxTerminateResponse> =
    Rpc::new("/modal.client.ModalClient/SandboxTerminate");
/// `modal.client.ModalClient/SandboxTerminateV2`
pub const SANDBOX_TERMINATE_V2: Rpc<pb::SandboxTerminateRequest, pb::SandboxTerminateResponse> =
    Rpc::new("/modal.client.ModalClient/SandboxTerminateV2");
/// `modal.client.ModalClient/SandboxTagsGet`
pub const SANDBOX_TAGS_GET: Rpc<pb::SandboxTagsGetRequest, pb::SandboxTagsGetResponse> =
    Rpc::new("/modal.client.ModalClient/SandboxTagsGet");
/// `modal.client.ModalClient/SandboxTagsGetV2`
pub const SANDBOX_TAGS_GET_V2: Rpc<pb::SandboxTagsGetRequest, pb::SandboxTagsGetResponse> =
    Rpc::new("/modal.client.ModalClient/SandboxTagsGetV2");
/// `modal.client.ModalClient/SandboxTagsSet`
pub const SANDBOX_TAGS_SET: Rpc<pb::SandboxTagsSetRequest, ()> =
    Rpc::new("/modal.client.ModalClient/SandboxTagsSet");
/// `modal.client.ModalClient/SandboxTagsSetV2`
pub const SANDBOX_TAGS_SET_V2: Rpc<pb::SandboxTagsSetRequest, ()> =
    Rpc::new("/modal.client.ModalClient/SandboxTagsSetV2");
/// `modal.client.ModalClient/SandboxList`
pub const SANDBOX_LIST: Rpc<pb::SandboxListRequest, pb::SandboxListResponse> =
    Rpc::new("/modal.client.ModalClient/SandboxList");
/// `modal.client.ModalClient/SandboxListV2`
pub const SANDBOX_LIST_V2: Rpc<pb::SandboxListRequest, pb::SandboxListResponse> =
    Rpc::new("/modal.client.ModalClient/SandboxListV2");
/// `modal.client.ModalClient/SandboxGetFromName`
pub const SANDBOX_GET_FROM_NAME: Rpc<
    pb::SandboxGetFromNameRequest,
    pb::SandboxGetFromNameResponse,
> = Rpc::new("/modal.client.ModalClient/SandboxGetFromName");
/// `modal.client.ModalClient/SandboxGetFromNameV2`
pub const SANDBOX_GET_FROM_NAME_V2: Rpc<
    pb::SandboxGetFromNameRequest,
    pb::SandboxGetFromNameResponse,
> = Rpc::new("/modal.client.ModalClient/SandboxGetFromNameV2");
/// `modal.client.ModalClient/SandboxGetLogs` (server stream)
pub const SANDBOX_GET_LOGS: Rpc<pb::SandboxGetLogsRequest, pb::TaskLogsBatch> =
    Rpc::new("/modal.client.ModalClient/SandboxGetLogs");
/// `modal.client.ModalClient/SandboxStdinWrite`
pub const SANDBOX_STDIN_WRITE: Rpc<pb::SandboxStdinWriteRequest, pb::SandboxStdinWriteResponse> =
    Rpc::new("/modal.client.ModalClient/SandboxStdinWrite");
/// `modal.client.ModalClient/SandboxGetTunnels`
pub const SANDBOX_GET_TUNNELS: Rpc<pb::SandboxGetTunnelsRequest, pb::SandboxGetTunnelsResponse> =
    Rpc::new("/modal.client.ModalClient/SandboxGetTunnels");
/// `modal.client.ModalClient/SandboxGetTunnelsV2`
pub const SANDBOX_GET_TUNNELS_V2: Rpc<pb::SandboxGetTunnelsRequest, pb::SandboxGetTunnelsResponse> =
    Rpc::new("/modal.client.ModalClient/SandboxGetTunnelsV2");
/// `modal.client.ModalClient/SandboxCreateConnectToken`
pub const SANDBOX_CREATE_CONNECT_TOKEN: Rpc<
    pb::SandboxCreateConnectTokenRequest,
    pb::SandboxCreateConnectTokenResponse,
> = Rpc::new("/modal.client.ModalClient/SandboxCreateConnectToken");
/// `modal.client.ModalClient/SandboxCreateConnectTokenV2`
pub const SANDBOX_CREATE_CONNECT_TOKEN_V2: Rpc<
    pb::SandboxCreateConnectTokenRequest,
    pb::SandboxCreateConnectTokenResponse,
> = Rpc::new("/modal.client.ModalClient/SandboxCreateConnectTokenV2");
/// `modal.client.ModalClient/SandboxWaitUntilReady`
pub const SANDBOX_WAIT_UNTIL_READY: Rpc<
    pb::SandboxWaitUntilReadyRequest,
    pb::SandboxWaitUntilReadyResponse,
> = Rpc::new("/modal.client.ModalClient/SandboxWaitUntilReady");
/// `modal.task_command_router.TaskCommandRouter/TaskExecStart`
pub const TASK_EXEC_START: Rpc<tcr::TaskExecStartRequest, tcr::TaskExecStartResponse> =
    Rpc::new("/modal.task_command_router.TaskCommandRouter/TaskExecStart");
/// `modal.task_command_router.TaskCommandRouter/TaskExecStdioRead` (server stream)
pub const TASK_EXEC_STDIO_READ: Rpc<tcr::TaskExecStdioReadRequest, tcr::TaskExecStdioReadResponse> =
    Rpc::new("/modal.task_command_router.TaskCommandRouter/TaskExecStdioRead");
/// `modal.task_command_router.TaskCommandRouter/TaskExecStdinWrite`
pub const TASK_EXEC_STDIN_WRITE: Rpc<
    tcr::TaskExecStdinWriteRequest,
    tcr::TaskExecStdinWriteResponse,
> = Rpc::new("/modal.task_command_router.TaskCommandRouter/TaskExecStdinWrite");
/// `modal.task_command_router.TaskCommandRouter/TaskExecStdinStatus`
pub const TASK_EXEC_STDIN_STATUS: Rpc<
    tcr::TaskExecStdinStatusRequest,
    tcr::TaskExecStdinStatusResponse,
> = Rpc::new("/modal.task_command_router.TaskCommandRouter/TaskExecStdinStatus");
/// `modal.task_command_router.TaskCommandRouter/TaskExecWait`
pub const TASK_EXEC_WAIT: Rpc<tcr::TaskExecWaitRequest, tcr::TaskExecWaitResponse> =
    Rpc::new("/modal.task_command_router.TaskCommandRouter/TaskExecWait");
/// `modal.task_command_router.TaskCommandRouter/TaskExecPoll`
pub const TASK_EXEC_POLL: Rpc<tcr::TaskExecPollRequest, tcr::TaskExecPollResponse> =
    Rpc::new("/modal.task_command_router.TaskCommandRouter/TaskExecPoll");
/// `modal.task_command_router.TaskCommandRouter/SandboxStdioReadV2` (server stream)
pub const SANDBOX_STDIO_READ_V2: Rpc<
    tcr::SandboxStdioReadV2Request,
    tcr::SandboxStdioReadV2Response,
> = Rpc::new("/modal.task_command_router.TaskCommandRouter/SandboxStdioReadV2");
/// `modal.task_command_router.TaskCommandRouter/SandboxStdinWriteV2`
pub const SANDBOX_STDIN_WRITE_V2: Rpc<
    tcr::SandboxStdinWriteV2Request,
    tcr::SandboxStdinWriteV2Response,
> = Rpc::new("/modal.task_command_router.TaskCommandRouter/SandboxStdinWriteV2");
/// `modal.task_command_router.TaskCommandRouter/SandboxWaitUntilReady`
pub const TCR_SANDBOX_WAIT_UNTIL_READY: Rpc<
    tcr::SandboxWaitUntilReadyTcrRequest,
    tcr::SandboxWaitUntilReadyTcrResponse,
> = Rpc::new("/modal.task_command_router.TaskCommandRouter/SandboxWaitUntilReady");
/// `modal.task_command_router.TaskCommandRouter/TaskSnapshotFilesystem`
pub const TASK_SNAPSHOT_FILESYSTEM: Rpc<
    tcr::TaskSnapshotFilesystemRequest,
    tcr::TaskSnapshotFilesystemResponse,
> = Rpc::new("/modal.task_command_router.TaskCommandRouter/TaskSnapshotFilesystem");
/// `modal.task_command_router.TaskCommandRouter/TaskSnapshotDirectory`
pub const TASK_SNAPSHOT_DIRECTORY: Rpc<
    tcr::TaskSnapshotDirectoryRequest,
    tcr::TaskSnapshotDirectoryResponse,
> = Rpc::new("/modal.task_command_router.TaskCommandRouter/TaskSnapshotDirectory");
/// `modal.task_command_router.TaskCommandRouter/TaskMountDirectory`
pub const TASK_MOUNT_DIRECTORY: Rpc<tcr::TaskMountDirectoryRequest, ()> =
    Rpc::new("/modal.task_command_router.TaskCommandRouter/TaskMountDirectory");
/// `modal.task_command_router.TaskCommandRouter/TaskUnmountDirectory`
pub const TASK_UNMOUNT_DIRECTORY: Rpc<tcr::TaskUnmountDirectoryRequest, ()> =
    Rpc::new("/modal.task_command_router.TaskCommandRouter/TaskUnmountDirectory");
/// `modal.task_command_router.TaskCommandRouter/TaskReloadVolumes`
pub const TASK_RELOAD_VOLUMES: Rpc<tcr::TaskReloadVolumesRequest, tcr::TaskReloadVolumesResponse> =
    Rpc::new("/modal.task_command_router.TaskCommandRouter/TaskReloadVolumes");
