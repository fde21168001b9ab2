//! Push devices over GraphQL.
use async_graphql::{Context, Enum, ID, InputObject, Object, Result};
use chrono::{DateTime, Utc};

use super::context::{app, viewer};
use crate::devices::{self, Platform as Stored};
use entity::devices as device;

pub struct Device(pub device::Model);

/// What kind of install a device is.
#[derive(Enum, Copy, Clone, PartialEq, Eq)]
pub enum Platform {
    /// An Android app.
    Android,
    /// An iOS app.
    Ios,
    /// A web app (browser push).
    Web,
}

impl From<Platform> for Stored {
    fn from(p: Platform) -> Self {
        match p {
            Platform::Android => Self::Android,
            Platform::Ios => Self::Ios,
            Platform::Web => Self::Web,
        }
    }
}

/// An install of an app of mine that receives push notifications.
#[Object]
impl Device {
    /// Unique among devices.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// What kind of install it is.
    async fn platform(&self) -> Platform {
        match self.0.platform {
            Stored::Android => Platform::Android,
            Stored::Ios => Platform::Ios,
            Stored::Web => Platform::Web,
        }
    }

    /// When it was first registered.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// When this install last registered its token.
    async fn last_registered_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

/// An install to notify by push.
#[derive(InputObject)]
pub struct RegisterDeviceInput {
    /// The FCM registration token of this install.
    token: String,
    /// What kind of install it is.
    platform: Platform,
}

#[derive(Default)]
pub struct DevicesMutation;

/// Push devices.
#[Object]
impl DevicesMutation {
    /// Adds this install's push token to my account (moving it from another
    /// account if it was there). At most 20 devices; the oldest go first.
    async fn register_device(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The install's token and platform.")] input: RegisterDeviceInput,
    ) -> Result<Device> {
        let viewer = viewer(ctx)?;
        let app = app(ctx);
        let device = devices::register(
            &app.db,
            viewer.user_id,
            &input.token,
            input.platform.into(),
            app.clock.now(),
        )
        .await?;
        Ok(Device(device))
    }

    /// Removes one of my devices; false when I have no device with this token.
    async fn unregister_device(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The FCM registration token it was registered with.")] token: String,
    ) -> Result<bool> {
        let viewer = viewer(ctx)?;
        Ok(devices::unregister(&app(ctx).db, viewer.user_id, &token).await?)
    }
}
