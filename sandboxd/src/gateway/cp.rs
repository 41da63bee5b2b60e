//! The gateway's control plane (`modal.client.ModalClient`), method by method: which scope
//! each needs, which sandbox it names, how the request is narrowed and the reply cleaned.
//! Methods the Sandbox API does not need are refused with PERMISSION_DENIED.

use super::policy;
use super::{BoxStream, Gateway};
use crate::tokens::{Claims, Scope};
use modal_proto::client::modal_client_server::ModalClient;
use modal_proto::client::*;
use std::sync::Arc;
use tonic::{Request, Response, Status};

pub struct GatewayCp {
    pub gw: Arc<Gateway>,
}

fn refused(what: &str) -> Status {
    Status::permission_denied(format!("{what} is not served by this gateway"))
}

/// A call on one existing sandbox: authenticate, check the scope and the sandbox, forward.
macro_rules! on_sandbox {
    ($self:ident, $req:ident, $scope:expr, $method:ident) => {{
        let c = $self.gw.authenticate(&$req)?;
        c.require($scope)?;
        $self
            .gw
            .check_sandbox(&c, &$req.get_ref().sandbox_id)
            .await?;
        let md = $req.metadata().clone();
        let r = $self
            .gw
            .up
            .cp(&md, $req.into_inner(), |mut cl, r| async move {
                cl.$method(r).await
            })
            .await?;
        Ok(Response::new(r))
    }};
}

impl GatewayCp {
    /// Narrows a logs query (`AppFetchLogs`, `AppCountLogs`) to one sandbox the token
    /// reaches: its `sandbox_id` checked, its `task_id` replaced by that sandbox's own (so
    /// no other task's logs can be named), Function filters refused.
    /// A logs request of `c`'s, authenticated and scoped (see `scope_logs`), with the
    /// metadata to send it upstream with.
    async fn scoped_logs<R: crate::app_logs::LogsRequest>(
        &self,
        req: Request<R>,
    ) -> Result<(tonic::metadata::MetadataMap, R), Status> {
        let c = self.gw.authenticate(&req)?;
        let md = req.metadata().clone();
        let mut r = req.into_inner();
        let mut task_id = std::mem::take(r.task_id_mut());
        let q = r.query();
        let functions = q.functions.map(|(_, f)| f);
        self.scope_logs(&c, &md, q.sandbox_id, &mut task_id, functions)
            .await?;
        *r.task_id_mut() = task_id;
        Ok((md, r))
    }

    async fn scope_logs(
        &self,
        c: &Claims,
        md: &tonic::metadata::MetadataMap,
        sandbox_id: &str,
        task_id: &mut String,
        functions: [&str; 3],
    ) -> Result<(), Status> {
        c.require(Scope::Exec)?;
        if functions.iter().any(|f| !f.is_empty()) {
            return Err(refused("the logs of Functions"));
        }
        self.gw.check_sandbox(c, sandbox_id).await?;
        let req = SandboxGetTaskIdRequest {
            sandbox_id: sandbox_id.to_string(),
            timeout: None,
            wait_until_ready: false,
        };
        let resp = self
            .gw
            .up
            .cp(md, req, |mut cl, r| async move {
                cl.sandbox_get_task_id(r).await
            })
            .await?;
        *task_id = resp.task_id.unwrap_or_default();
        if task_id.is_empty() {
            return Err(Status::failed_precondition(format!(
                "sandbox {sandbox_id} has no task yet"
            )));
        }
        Ok(())
    }

    /// Unseals the object ids of a sandbox definition (image, secrets, volumes) and
    /// shapes it to the token and the limits.
    fn shape_definition(&self, c: &Claims, d: &mut Sandbox) -> Result<(), Status> {
        policy::shape_definition(d, &self.gw.limits)?;
        let seals = &self.gw.seals;
        d.image_id = seals.unseal(c, "image", &d.image_id)?;
        for s in &mut d.secret_ids {
            *s = seals.unseal(c, "secret", s)?;
        }
        for v in &mut d.volume_mounts {
            v.volume_id = seals.unseal(c, "volume", &v.volume_id)?;
        }
        Ok(())
    }

    fn unseal_sources(&self, c: &Claims, sources: &mut [SecretSource]) -> Result<(), Status> {
        for s in sources {
            if let Some(secret_source::Source::SecretId(id)) = &mut s.source {
                *id = self.gw.seals.unseal(c, "secret", id)?;
            }
        }
        Ok(())
    }

    async fn list(
        &self,
        req: Request<SandboxListRequest>,
        v2: bool,
    ) -> Result<Response<SandboxListResponse>, Status> {
        let c = self.gw.authenticate(&req)?;
        c.require(Scope::Read)?;
        let md = req.metadata().clone();
        let mut r = req.into_inner();
        r.app_id = match self.gw.app_id(&c).await {
            Ok(id) => id,
            // the token's app does not exist yet: it has no sandboxes
            Err(e) if e.code() == tonic::Code::NotFound => {
                return Ok(Response::new(SandboxListResponse::default()))
            }
            Err(e) => return Err(e),
        };
        r.environment_name = self.gw.up.environment().to_string();
        r.tags = policy::list_filter(&c, &r.tags)?;
        let mut resp = self
            .gw
            .up
            .cp(&md, r, |mut cl, r| async move {
                if v2 {
                    cl.sandbox_list_v2(r).await
                } else {
                    cl.sandbox_list(r).await
                }
            })
            .await?;
        // the upstream filtered by tags already; this keeps the promise whatever it did
        resp.sandboxes
            .retain(|s| policy::reaches(&c, &s.id, &policy::tags_map(&s.tags)));
        for s in &mut resp.sandboxes {
            s.image_id = self.gw.seals.seal(&c, "image", &s.image_id);
        }
        Ok(Response::new(resp))
    }

    async fn get_from_name(
        &self,
        req: Request<SandboxGetFromNameRequest>,
        v2: bool,
    ) -> Result<Response<SandboxGetFromNameResponse>, Status> {
        let c = self.gw.authenticate(&req)?;
        c.require(Scope::Read)?;
        let md = req.metadata().clone();
        let mut r = req.into_inner();
        if r.app_name != c.app {
            return Err(Status::permission_denied(format!(
                "this token's sandboxes live in app '{}'",
                c.app
            )));
        }
        r.environment_name = self.gw.up.environment().to_string();
        let name = r.sandbox_name.clone();
        let resp = self
            .gw
            .up
            .cp(&md, r, |mut cl, r| async move {
                if v2 {
                    cl.sandbox_get_from_name_v2(r).await
                } else {
                    cl.sandbox_get_from_name(r).await
                }
            })
            .await?;
        // another tenant's sandbox of that name does not exist for this token
        if self.gw.check_sandbox(&c, &resp.sandbox_id).await.is_err() {
            return Err(Status::not_found(format!("Sandbox '{name}' not found")));
        }
        Ok(Response::new(resp))
    }

    async fn set_tags(
        &self,
        req: Request<SandboxTagsSetRequest>,
        v2: bool,
    ) -> Result<Response<()>, Status> {
        let c = self.gw.authenticate(&req)?;
        c.require(Scope::Create)?;
        self.gw.check_sandbox(&c, &req.get_ref().sandbox_id).await?;
        let current = self.gw.up.tags(&req.get_ref().sandbox_id).await?;
        let md = req.metadata().clone();
        let mut r = req.into_inner();
        r.environment_name = self.gw.up.environment().to_string();
        r.tags = policy::set_tags(&c, &current, &r.tags)?;
        let (id, tags) = (r.sandbox_id.clone(), policy::tags_map(&r.tags));
        self.gw
            .up
            .cp(&md, r, |mut cl, r| async move {
                if v2 {
                    cl.sandbox_tags_set_v2(r).await
                } else {
                    cl.sandbox_tags_set(r).await
                }
            })
            .await?;
        self.gw.up.remember_tags(&id, tags);
        Ok(Response::new(()))
    }
}

#[tonic::async_trait]
impl ModalClient for GatewayCp {
    async fn client_hello(&self, _: Request<()>) -> Result<Response<ClientHelloResponse>, Status> {
        Err(refused("ClientHello"))
    }

    async fn auth_token_get(
        &self,
        _: Request<AuthTokenGetRequest>,
    ) -> Result<Response<AuthTokenGetResponse>, Status> {
        // the upstream auth token is the gateway's; a token holder needs none
        Err(refused(
            "AuthTokenGet (clients with a scoped token need no auth token)",
        ))
    }

    async fn app_get_or_create(
        &self,
        req: Request<AppGetOrCreateRequest>,
    ) -> Result<Response<AppGetOrCreateResponse>, Status> {
        let c = self.gw.authenticate(&req)?;
        let r = req.into_inner();
        if r.app_name != c.app {
            return Err(Status::permission_denied(format!(
                "this token is for app '{}', not '{}'",
                c.app, r.app_name
            )));
        }
        let create = r.object_creation_type == ObjectCreationType::CreateIfMissing as i32;
        if create {
            c.require(Scope::Create)?;
        }
        let app_id = self.gw.up.app_id(&c.app, create).await?;
        Ok(Response::new(AppGetOrCreateResponse {
            app_id,
            ..Default::default()
        }))
    }

    async fn environment_get_or_create(
        &self,
        req: Request<EnvironmentGetOrCreateRequest>,
    ) -> Result<Response<EnvironmentGetOrCreateResponse>, Status> {
        self.gw.authenticate(&req)?;
        let md = req.metadata().clone();
        let r = EnvironmentGetOrCreateRequest {
            deployment_name: self.gw.up.environment().to_string(),
            object_creation_type: ObjectCreationType::Unspecified as i32,
        };
        let resp = self
            .gw
            .up
            .cp(&md, r, |mut cl, r| async move {
                cl.environment_get_or_create(r).await
            })
            .await?;
        Ok(Response::new(resp))
    }

    async fn image_get_or_create(
        &self,
        req: Request<ImageGetOrCreateRequest>,
    ) -> Result<Response<ImageGetOrCreateResponse>, Status> {
        let c = self.gw.authenticate(&req)?;
        c.require(Scope::Create)?;
        let md = req.metadata().clone();
        let mut r = req.into_inner();
        self.gw.check_app(&c, &r.app_id).await?;
        let image = r
            .image
            .as_mut()
            .ok_or_else(|| Status::invalid_argument("image is required"))?;
        policy::check_image(image, &self.gw.limits)?;
        for b in &mut image.base_images {
            b.image_id = self.gw.seals.unseal(&c, "image", &b.image_id)?;
        }
        for s in &mut image.secret_ids {
            *s = self.gw.seals.unseal(&c, "secret", s)?;
        }
        if !r.build_function_id.is_empty() || r.allow_global_deployment || r.namespace != 0 {
            return Err(Status::permission_denied(
                "this gateway does not let tokens set build_function_id, namespace or allow_global_deployment",
            ));
        }
        r.existing_image_id = self.gw.seals.unseal(&c, "image", &r.existing_image_id)?;
        let mut resp = self
            .gw
            .up
            .cp(&md, r, |mut cl, r| async move {
                cl.image_get_or_create(r).await
            })
            .await?;
        resp.image_id = self.gw.seals.seal(&c, "image", &resp.image_id);
        Ok(Response::new(resp))
    }

    async fn image_join_streaming(
        &self,
        req: Request<ImageJoinStreamingRequest>,
    ) -> Result<Response<BoxStream<ImageJoinStreamingResponse>>, Status> {
        let c = self.gw.authenticate(&req)?;
        c.require(Scope::Create)?;
        let md = req.metadata().clone();
        let mut r = req.into_inner();
        r.image_id = self.gw.seals.unseal(&c, "image", &r.image_id)?;
        let s = self
            .gw
            .up
            .cp(&md, r, |mut cl, r| async move {
                cl.image_join_streaming(r).await
            })
            .await?;
        Ok(Response::new(self.gw.stream(&c.sub, s)?))
    }

    async fn image_publish(
        &self,
        _: Request<ImagePublishRequest>,
    ) -> Result<Response<ImagePublishResponse>, Status> {
        // a published name is the workspace's, not one token's
        Err(refused("ImagePublish"))
    }

    async fn image_get_by_tag(
        &self,
        _: Request<ImageGetByTagRequest>,
    ) -> Result<Response<ImageGetByTagResponse>, Status> {
        Err(refused("ImageGetByTag"))
    }

    async fn image_from_id(
        &self,
        req: Request<ImageFromIdRequest>,
    ) -> Result<Response<ImageFromIdResponse>, Status> {
        let c = self.gw.authenticate(&req)?;
        c.require(Scope::Create)?;
        let md = req.metadata().clone();
        let mut r = req.into_inner();
        r.image_id = self.gw.seals.unseal(&c, "image", &r.image_id)?;
        let mut resp = self
            .gw
            .up
            .cp(&md, r, |mut cl, r| async move { cl.image_from_id(r).await })
            .await?;
        resp.image_id = self.gw.seals.seal(&c, "image", &resp.image_id);
        Ok(Response::new(resp))
    }

    async fn secret_get_or_create(
        &self,
        req: Request<SecretGetOrCreateRequest>,
    ) -> Result<Response<SecretGetOrCreateResponse>, Status> {
        let c = self.gw.authenticate(&req)?;
        if !(c.allows(Scope::Create) || c.allows(Scope::Exec)) {
            return Err(Status::permission_denied(
                "secrets need the 'create' or 'exec' scope",
            ));
        }
        let md = req.metadata().clone();
        let mut r = req.into_inner();
        r.environment_name = self.gw.up.environment().to_string();
        r.app_id = String::new();
        if r.deployment_name.is_empty() {
            if r.object_creation_type != ObjectCreationType::Ephemeral as i32 {
                return Err(Status::permission_denied(
                    "tokens may create ephemeral secrets only",
                ));
            }
        } else {
            if !self.gw.allowed_secrets.contains(&r.deployment_name) {
                return Err(Status::permission_denied(format!(
                    "secret '{}' is not shared with tokens by this gateway (--allow-secret)",
                    r.deployment_name
                )));
            }
            if r.object_creation_type != ObjectCreationType::Unspecified as i32
                || !r.env_dict.is_empty()
            {
                return Err(Status::permission_denied(
                    "tokens may only look up a shared secret, not create or change it",
                ));
            }
        }
        let mut resp = self
            .gw
            .up
            .cp(&md, r, |mut cl, r| async move {
                cl.secret_get_or_create(r).await
            })
            .await?;
        resp.secret_id = self.gw.seals.seal(&c, "secret", &resp.secret_id);
        Ok(Response::new(resp))
    }

    async fn volume_get_or_create(
        &self,
        req: Request<VolumeGetOrCreateRequest>,
    ) -> Result<Response<VolumeGetOrCreateResponse>, Status> {
        let c = self.gw.authenticate(&req)?;
        c.require(Scope::Create)?;
        let md = req.metadata().clone();
        let mut r = req.into_inner();
        if !self.gw.allowed_volumes.contains(&r.deployment_name) {
            return Err(Status::permission_denied(format!(
                "volume '{}' is not shared with tokens by this gateway (--allow-volume)",
                r.deployment_name
            )));
        }
        if r.object_creation_type != ObjectCreationType::Unspecified as i32 {
            return Err(Status::permission_denied(
                "tokens may only look up a shared volume, not create one",
            ));
        }
        r.environment_name = self.gw.up.environment().to_string();
        r.app_id = String::new();
        let mut resp = self
            .gw
            .up
            .cp(&md, r, |mut cl, r| async move {
                cl.volume_get_or_create(r).await
            })
            .await?;
        resp.volume_id = self.gw.seals.seal(&c, "volume", &resp.volume_id);
        Ok(Response::new(resp))
    }

    async fn sandbox_create_v2(
        &self,
        req: Request<SandboxCreateV2Request>,
    ) -> Result<Response<SandboxCreateV2Response>, Status> {
        let c = self.gw.authenticate(&req)?;
        c.require(Scope::Create)?;
        let url = self.gw.router_url(&req);
        let md = req.metadata().clone();
        let mut r = req.into_inner();
        self.gw.check_app(&c, &r.app_id).await?;
        let d = r
            .definition
            .as_mut()
            .ok_or_else(|| Status::invalid_argument("definition is required"))?;
        self.shape_definition(&c, d)?;
        if !r.cloud_bucket_mount_credentials.is_empty() {
            return Err(Status::permission_denied(
                "this gateway does not let tokens set cloud_bucket_mount_credentials",
            ));
        }
        self.unseal_sources(&c, &mut r.secret_sources)?;
        r.tags = policy::create_tags(&c, &r.tags)?;
        let tags = policy::tags_map(&r.tags);
        self.gw.check_sandbox_quota(&c, &md).await?;
        let mut resp = self
            .gw
            .up
            .cp(
                &md,
                r,
                |mut cl, r| async move { cl.sandbox_create_v2(r).await },
            )
            .await?;
        self.gw.up.remember_tags(&resp.sandbox_id, tags);
        // a routing hint of the upstream's, bound to the workspace: never to a client
        resp.sandbox_token = String::new();
        let (jwt, url) = self
            .gw
            .router_access(&c, &resp.sandbox_id, &resp.task_id, url)?;
        resp.command_router_access = Some(CommandRouterAccess { jwt, url });
        Ok(Response::new(resp))
    }

    async fn sandbox_create(
        &self,
        req: Request<SandboxCreateRequest>,
    ) -> Result<Response<SandboxCreateResponse>, Status> {
        let c = self.gw.authenticate(&req)?;
        c.require(Scope::Create)?;
        let md = req.metadata().clone();
        let mut r = req.into_inner();
        self.gw.check_app(&c, &r.app_id).await?;
        let d = r
            .definition
            .as_mut()
            .ok_or_else(|| Status::invalid_argument("definition is required"))?;
        self.shape_definition(&c, d)?;
        r.environment_name = self.gw.up.environment().to_string();
        r.tags = policy::create_tags(&c, &r.tags)?;
        let tags = policy::tags_map(&r.tags);
        self.gw.check_sandbox_quota(&c, &md).await?;
        let resp = self
            .gw
            .up
            .cp(
                &md,
                r,
                |mut cl, r| async move { cl.sandbox_create(r).await },
            )
            .await?;
        self.gw.up.remember_tags(&resp.sandbox_id, tags);
        Ok(Response::new(resp))
    }

    async fn sandbox_get_task_id(
        &self,
        req: Request<SandboxGetTaskIdRequest>,
    ) -> Result<Response<SandboxGetTaskIdResponse>, Status> {
        on_sandbox!(self, req, Scope::Read, sandbox_get_task_id)
    }

    async fn task_get_command_router_access(
        &self,
        _: Request<TaskGetCommandRouterAccessRequest>,
    ) -> Result<Response<TaskGetCommandRouterAccessResponse>, Status> {
        Err(refused(
            "TaskGetCommandRouterAccess (use SandboxGetCommandRouterAccess with a sandbox id)",
        ))
    }

    async fn sandbox_get_command_router_access(
        &self,
        req: Request<SandboxGetCommandRouterAccessRequest>,
    ) -> Result<Response<SandboxGetCommandRouterAccessResponse>, Status> {
        let c = self.gw.authenticate(&req)?;
        let url = self.gw.router_url(&req);
        let md = req.metadata().clone();
        let sandbox_id = match req.into_inner().target {
            Some(sandbox_get_command_router_access_request::Target::SandboxId(id)) => id,
            _ => {
                return Err(Status::permission_denied(
                    "this gateway gives command router access by sandbox id only",
                ))
            }
        };
        self.gw.check_sandbox(&c, &sandbox_id).await?;
        let r = SandboxGetTaskIdRequest {
            sandbox_id: sandbox_id.clone(),
            timeout: None,
            wait_until_ready: false,
        };
        let task = self
            .gw
            .up
            .cp(&md, r, |mut cl, r| async move {
                cl.sandbox_get_task_id(r).await
            })
            .await?;
        let task_id = task.task_id.filter(|t| !t.is_empty()).ok_or_else(|| {
            Status::failed_precondition(format!("Sandbox {sandbox_id} has no task yet"))
        })?;
        let (jwt, url) = self.gw.router_access(&c, &sandbox_id, &task_id, url)?;
        Ok(Response::new(SandboxGetCommandRouterAccessResponse {
            jwt,
            url,
            worker_ipv4_address: String::new(),
        }))
    }

    async fn sandbox_wait(
        &self,
        req: Request<SandboxWaitRequest>,
    ) -> Result<Response<SandboxWaitResponse>, Status> {
        on_sandbox!(self, req, Scope::Read, sandbox_wait)
    }

    async fn sandbox_wait_v2(
        &self,
        req: Request<SandboxWaitRequest>,
    ) -> Result<Response<SandboxWaitResponse>, Status> {
        on_sandbox!(self, req, Scope::Read, sandbox_wait_v2)
    }

    async fn sandbox_terminate(
        &self,
        req: Request<SandboxTerminateRequest>,
    ) -> Result<Response<SandboxTerminateResponse>, Status> {
        on_sandbox!(self, req, Scope::Terminate, sandbox_terminate)
    }

    async fn sandbox_terminate_v2(
        &self,
        req: Request<SandboxTerminateRequest>,
    ) -> Result<Response<SandboxTerminateResponse>, Status> {
        on_sandbox!(self, req, Scope::Terminate, sandbox_terminate_v2)
    }

    async fn sandbox_tags_get(
        &self,
        req: Request<SandboxTagsGetRequest>,
    ) -> Result<Response<SandboxTagsGetResponse>, Status> {
        on_sandbox!(self, req, Scope::Read, sandbox_tags_get)
    }

    async fn sandbox_tags_get_v2(
        &self,
        req: Request<SandboxTagsGetRequest>,
    ) -> Result<Response<SandboxTagsGetResponse>, Status> {
        on_sandbox!(self, req, Scope::Read, sandbox_tags_get_v2)
    }

    async fn sandbox_tags_set(
        &self,
        req: Request<SandboxTagsSetRequest>,
    ) -> Result<Response<()>, Status> {
        self.set_tags(req, false).await
    }

    async fn sandbox_tags_set_v2(
        &self,
        req: Request<SandboxTagsSetRequest>,
    ) -> Result<Response<()>, Status> {
        self.set_tags(req, true).await
    }

    async fn sandbox_list(
        &self,
        req: Request<SandboxListRequest>,
    ) -> Result<Response<SandboxListResponse>, Status> {
        self.list(req, false).await
    }

    async fn sandbox_list_v2(
        &self,
        req: Request<SandboxListRequest>,
    ) -> Result<Response<SandboxListResponse>, Status> {
        self.list(req, true).await
    }

    async fn sandbox_get_from_name(
        &self,
        req: Request<SandboxGetFromNameRequest>,
    ) -> Result<Response<SandboxGetFromNameResponse>, Status> {
        self.get_from_name(req, false).await
    }

    async fn sandbox_get_from_name_v2(
        &self,
        req: Request<SandboxGetFromNameRequest>,
    ) -> Result<Response<SandboxGetFromNameResponse>, Status> {
        self.get_from_name(req, true).await
    }

    async fn sandbox_get_logs(
        &self,
        req: Request<SandboxGetLogsRequest>,
    ) -> Result<Response<BoxStream<TaskLogsBatch>>, Status> {
        let c = self.gw.authenticate(&req)?;
        c.require(Scope::Exec)?;
        self.gw.check_sandbox(&c, &req.get_ref().sandbox_id).await?;
        let md = req.metadata().clone();
        let s = self
            .gw
            .up
            .cp(&md, req.into_inner(), |mut cl, r| async move {
                cl.sandbox_get_logs(r).await
            })
            .await?;
        Ok(Response::new(self.gw.stream(&c.sub, s)?))
    }

    async fn app_fetch_logs(
        &self,
        req: Request<AppFetchLogsRequest>,
    ) -> Result<Response<AppFetchLogsResponse>, Status> {
        let (md, r) = self.scoped_logs(req).await?;
        let resp = self
            .gw
            .up
            .cp(
                &md,
                r,
                |mut cl, r| async move { cl.app_fetch_logs(r).await },
            )
            .await?;
        Ok(Response::new(resp))
    }

    async fn app_count_logs(
        &self,
        req: Request<AppCountLogsRequest>,
    ) -> Result<Response<AppCountLogsResponse>, Status> {
        let (md, r) = self.scoped_logs(req).await?;
        let resp = self
            .gw
            .up
            .cp(
                &md,
                r,
                |mut cl, r| async move { cl.app_count_logs(r).await },
            )
            .await?;
        Ok(Response::new(resp))
    }

    async fn sandbox_stdin_write(
        &self,
        req: Request<SandboxStdinWriteRequest>,
    ) -> Result<Response<SandboxStdinWriteResponse>, Status> {
        on_sandbox!(self, req, Scope::Exec, sandbox_stdin_write)
    }

    async fn sandbox_get_tunnels(
        &self,
        req: Request<SandboxGetTunnelsRequest>,
    ) -> Result<Response<SandboxGetTunnelsResponse>, Status> {
        on_sandbox!(self, req, Scope::Read, sandbox_get_tunnels)
    }

    async fn sandbox_get_tunnels_v2(
        &self,
        req: Request<SandboxGetTunnelsRequest>,
    ) -> Result<Response<SandboxGetTunnelsResponse>, Status> {
        on_sandbox!(self, req, Scope::Read, sandbox_get_tunnels_v2)
    }

    async fn sandbox_create_connect_token(
        &self,
        req: Request<SandboxCreateConnectTokenRequest>,
    ) -> Result<Response<SandboxCreateConnectTokenResponse>, Status> {
        on_sandbox!(self, req, Scope::ConnectToken, sandbox_create_connect_token)
    }

    async fn sandbox_create_connect_token_v2(
        &self,
        req: Request<SandboxCreateConnectTokenRequest>,
    ) -> Result<Response<SandboxCreateConnectTokenResponse>, Status> {
        on_sandbox!(
            self,
            req,
            Scope::ConnectToken,
            sandbox_create_connect_token_v2
        )
    }

    async fn sandbox_wait_until_ready(
        &self,
        req: Request<SandboxWaitUntilReadyRequest>,
    ) -> Result<Response<SandboxWaitUntilReadyResponse>, Status> {
        on_sandbox!(self, req, Scope::Read, sandbox_wait_until_ready)
    }
}
