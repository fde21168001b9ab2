//! A person's own settings: notifications (channels, and which steps of
//! their shares), now-playing visibility, quiet hours.
use sea_orm::{ActiveEnum as _, ActiveModelTrait as _, IntoActiveModel as _, Set};
use uuid::Uuid;

use super::{Accounts, users, validate::DisplayName};
use crate::error::{Error, Result};
use entity::{share_activities::Kind as Step, users as user};

/// A partial update: `None` leaves a value as it is. Quiet hours are an
/// `Option<Option<_>>`: `Some(None)` clears them.
#[derive(Debug, Default)]
pub struct SettingsUpdate {
    pub display_name: Option<String>,
    pub notify_push: Option<bool>,
    pub notify_messenger: Option<bool>,
    pub now_playing_public: Option<bool>,
    pub timezone: Option<String>,
    pub quiet_hours_start: Option<Option<i32>>,
    pub quiet_hours_end: Option<Option<i32>>,
    /// Which steps of my shares also push and message me.
    pub notify_steps: Option<Vec<Step>>,
}

/// The stored form of a choice of steps: each once, in the ladder's order,
/// comma-separated (`OPENED,PLAYED`; empty: none).
///
/// # Errors
/// `BadUserInput` (field `notifySteps`) for `CANCELLED`: a sender cancels
/// their own shares, so there is nothing to tell them.
pub fn stored_steps(mut steps: Vec<Step>) -> Result<String> {
    if steps.contains(&Step::Cancelled) {
        return Err(Error::bad_input(
            "notifySteps",
            "CANCELLED is not a step you can be told about: only you can cancel your shares",
        ));
    }
    steps.sort_unstable();
    steps.dedup();
    Ok(steps.iter().map(|step| step.to_value()).collect::<Vec<_>>().join(","))
}

impl Accounts {
    /// Changes a person's settings: all of `update` is checked before anything
    /// is written. Answers the updated row.
    ///
    /// # Errors
    /// `BadUserInput` naming the field at fault (a name, time zone or hour out
    /// of range, quiet hours half set); `NotFound` if the account is gone.
    #[tracing::instrument(skip(self, update), fields(user_id = %user_id))]
    pub async fn update_settings(&self, user_id: Uuid, update: SettingsUpdate) -> Result<user::Model> {
        let current = users::get(&self.db, user_id).await?;

        // Validate everything before writing anything.
        let display_name = update.display_name.as_deref().map(DisplayName::parse).transpose()?;
        let notify_steps = update.notify_steps.map(stored_steps).transpose()?;
        let timezone = match update.timezone.as_deref().map(str::trim) {
            Some(tz) => Some(
                tz.parse::<chrono_tz::Tz>()
                    .map_err(|_| {
                        Error::bad_input("timezone", format!("`{tz}` is not a time zone name like Europe/Paris"))
                    })?
                    .name()
                    .to_owned(),
            ),
            None => None,
        };
        let hour = |field: &'static str, value: Option<Option<i32>>| -> Result<Option<Option<i16>>> {
            match value {
                Some(Some(h)) if !(0..=23).contains(&h) => {
                    Err(Error::bad_input(field, "quiet hours are whole hours from 0 to 23"))
                }
                Some(Some(h)) => Ok(Some(Some(h as i16))),
                Some(None) => Ok(Some(None)),
                None => Ok(None),
            }
        };
        let start = hour("quietHoursStart", update.quiet_hours_start)?.unwrap_or(current.quiet_hours_start);
        let end = hour("quietHoursEnd", update.quiet_hours_end)?.unwrap_or(current.quiet_hours_end);
        if start.is_some() != end.is_some() {
            return Err(Error::bad_input(
                "quietHoursStart",
                "set both quiet-hours start and end, or clear both",
            ));
        }
        if start.is_some() && start == end {
            return Err(Error::bad_input(
                "quietHoursEnd",
                "quiet hours must end at a different hour than they start",
            ));
        }

        let mut row = current.into_active_model();
        if let Some(name) = display_name {
            row.display_name = Set(name.into_inner());
        }
        if let Some(v) = update.notify_push {
            row.notify_push = Set(v);
        }
        if let Some(v) = update.notify_messenger {
            row.notify_messenger = Set(v);
        }
        if let Some(v) = update.now_playing_public {
            row.now_playing_public = Set(v);
        }
        if let Some(tz) = timezone {
            row.timezone = Set(tz);
        }
        if let Some(steps) = notify_steps {
            row.notify_steps = Set(steps);
        }
        row.quiet_hours_start = Set(start);
        row.quiet_hours_end = Set(end);
        row.updated_at = Set(self.clock.now());
        let updated = row.update(&self.db).await?;
        self.caches.forget_person(&updated);
        Ok(updated)
    }
}
