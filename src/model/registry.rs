//! The model families, one line each: which [`ModelKind`]s a family builds. A new
//! family adds its folder under `src/model/`, its kinds and presets in
//! [`crate::model::config`], and one line here.

use tch::Device;

use crate::model::api::TemporalModel;
use crate::model::config::{ModelConfig, ModelKind};
use crate::model::{ModelError, dygformer, graphmixer, tgn, tpnet};

/// Build the model `cfg` describes on `device`, its weights drawn from `seed`.
pub fn build(cfg: ModelConfig, device: Device, seed: u64) -> Result<Box<dyn TemporalModel>, ModelError> {
    cfg.validate()?;
    tch::manual_seed(seed as i64);
    Ok(match cfg.kind {
        ModelKind::Tgn | ModelKind::Jodie | ModelKind::Dyrep | ModelKind::Tgat => {
            Box::new(tgn::TgnNet::new(cfg, device)?)
        }
        ModelKind::Graphmixer => Box::new(graphmixer::GraphMixer::new(cfg, device)?),
        ModelKind::Tpnet | ModelKind::TpnetLite => Box::new(tpnet::TpNet::new(cfg, device, seed)?),
        ModelKind::Dygformer => Box::new(dygformer::DyGFormer::new(cfg, device)?),
    })
}
