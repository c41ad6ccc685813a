//! Changes applied to the index: updates (muted by silences), operator
//! actions, and what each says (events, messages, history) to the pager.

use super::*;

impl Run {
    /// The active silence that mutes this alert longest, if any.
    pub(super) fn silencing(
        &self,
        source: &str,
        change: &alert::AlertChange,
        record: &Record,
        now: UnixSecs,
    ) -> Option<crate::alertmanager::silences::Silence> {
        let silences = self.given.silences.read();
        // Expired silences stay listed: only an active one costs the labels.
        if !silences.any_active(now) {
            return None;
        }
        // Nor one that cannot match: the labels worked out only when a
        // silence is filed under one of the values known without them.
        let key = AlertKey::new(source.to_owned(), change.id.clone());
        let subject = if record.subject.is_empty() {
            source
        } else {
            record.subject.as_str()
        };
        let known = |name: &str| crate::alertmanager::labels::without_group(name, &key, subject);
        if !silences.could_mute(known) {
            return None;
        }
        let labels = self.given.pager.router.labels(&key, record);
        silences
            .muting(&labels, now)
            .max_by_key(|s| s.ends_at)
            .cloned()
    }

    /// Applies an update's alerts; their texts move into the records (the
    /// update is left without them) unless a silence could need them.
    pub(super) fn apply_update(&mut self, index: &mut Index, update: &mut Update) {
        let now = update.received_at;
        let any_silence = self.given.silences.read().any_active(now);
        for change in &mut update.alerts {
            let found = index.find(&update.source, &change.id);
            let old = found.map(|slot| index.record(slot));
            let old_hash = found.map_or(0, |slot| index.detail_hash_of(slot));
            // A detail resent unchanged is no change (hashed once).
            let hash = change
                .detail
                .as_deref()
                .map_or(old_hash, index::detail_hash);
            let mut transition = if any_silence {
                alert::apply(old.as_ref(), &update.source, change, now)
            } else {
                alert::apply_taking(old.as_ref(), &update.source, change, now)
            };
            let silenced = any_silence
                .then(|| self.mute(&update.source, change, old.as_ref(), &mut transition, now))
                .flatten();
            let slot = match found {
                Some(slot) => slot,
                None => match index.insert_parts(&update.source, &change.id, &transition.record, 0)
                {
                    Ok(slot) => slot,
                    Err(full) => {
                        self.given.metrics.alert_rejected(AlertError::OverCapacity);
                        if self.limiter.allow(now) {
                            let key = AlertKey::new(update.source.clone(), change.id.clone());
                            tracing::warn!(%key, "alert refused: {full}");
                        }
                        continue;
                    }
                },
            };
            self.given.metrics.alert_updates.inc();
            // A forgotten alert sent again without a detail, before the
            // removal of its old one is on disk: its "" is a change too.
            let detail_changed = hash != old_hash
                || (found.is_none() && self.dirty.removing(&update.source, &change.id));
            // (A replacing update's ids are read again after the loop.)
            let key = KeyOf {
                named: (!update.replace).then_some((&update.source, &mut change.id)),
                slot,
            };
            self.commit(index, key, old, transition, hash, detail_changed, now);
            if let Some(silence) = silenced {
                self.say_silenced(index, slot, &silence, now);
            }
        }
        if update.replace {
            self.clear_unlisted(index, update, now);
        }
    }

    /// A new or changed alert that an active silence mutes is applied as
    /// if it had asked to be suppressed until the silence ends: the
    /// transition is made again so, and the silence returned.
    fn mute(
        &self,
        source: &str,
        change: &alert::AlertChange,
        old: Option<&Record>,
        transition: &mut Transition,
        now: UnixSecs,
    ) -> Option<crate::alertmanager::silences::Silence> {
        let silence = self.silencing(source, change, &transition.record, now)?;
        let until = silence.ends_at;
        let quiet = |t: Option<UnixSecs>| t.is_none_or(|t| t < until);
        if !(quiet(change.suppress_until) && old.is_none_or(|o| quiet(o.suppress_until))) {
            return None;
        }
        let muted = alert::AlertChange {
            suppress_until: Some(until),
            ..change.clone()
        };
        *transition = alert::apply(old, source, &muted, now);
        Some(silence)
    }

    /// The history line of an alert muted by a silence, by its author.
    fn say_silenced(
        &self,
        index: &mut Index,
        slot: SlotId,
        silence: &crate::alertmanager::silences::Silence,
        now: UnixSecs,
    ) {
        let action = Action::Silence {
            until: silence.ends_at,
            silence: silence.id.clone(),
            comment: silence.comment.clone(),
        };
        let (kind, text) =
            action.history(&silence.created_by, &self.given.pager.router.calendar.zone);
        let bucket = index.bucket_of(slot);
        let key = index.key(slot);
        let mut said = self.said.say(index);
        said.changed.push(bucket);
        said.history(
            key,
            HistoryEntry::new(now, kind, text).authored(&silence.created_by),
        );
    }

    /// A replacing update clears the alerts of its source it does not list.
    fn clear_unlisted(&mut self, index: &mut Index, update: &Update, now: UnixSecs) {
        let listed: HashSet<&str> = update.alerts.iter().map(|a| a.id.as_str()).collect();
        let unlisted: Vec<SlotId> = index
            .of_source(&update.source)
            .into_iter()
            .filter(|&slot| !listed.contains(index.key(slot).id.as_str()))
            .collect();
        for slot in unlisted {
            let old = index.record(slot);
            if let Some(transition) = alert::clear_unlisted(&old, now) {
                self.commit_known(index, slot, old, transition, now);
            }
        }
    }

    /// Puts a transition into the index, addresses its event and marks the
    /// alert dirty in the right tier.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn commit(
        &mut self,
        index: &mut Index,
        mut key: KeyOf,
        old: Option<Record>,
        transition: Transition,
        detail_hash: u32,
        detail_changed: bool,
        at: UnixSecs,
    ) {
        let slot = key.slot;
        let Transition { record, event } = transition;
        index.update(slot, &record, detail_hash);
        let shown = |r: &Record| (r.state(), r.is_suppressed(at));
        if event.is_some() || old.as_ref().map(shown) != Some(shown(&record)) {
            let raised = matches!(event, Some(EventKind::Raised | EventKind::ReRaised));
            self.tell_pages(|| key.get(index), record.state().as_str(), &record, raised);
        }
        // A changed detail is the record's (the change's, applied).
        if detail_changed {
            index.stage_detail(slot, record.detail.as_str().into());
            self.dirty.detail_changed(slot);
        }
        let tier = if event.is_some() || self.waited_on {
            Tier::Told
        } else if detail_changed || old.as_ref().is_none_or(|old| !timers_only(old, &record)) {
            Tier::Urgent
        } else {
            Tier::Timers
        };
        let bucket = index.bucket_of(slot);
        // Only a timer-only change needs the time it was marked.
        let now_ms = if tier == Tier::Timers {
            self.given.clock.now_ms()
        } else {
            0
        };
        self.dirty.mark(bucket, tier, now_ms);
        if event.is_none()
            && record.is_raised()
            && !old.as_ref().is_some_and(Record::is_raised)
            && record.is_suppressed(at)
        {
            let text = format!(
                "raised while suppressed until {}: nobody is told before then",
                record.suppress_until.unwrap_or(at)
            );
            let key = key.get(index);
            let mut said = self.said.say(index);
            said.changed.push(bucket);
            said.history(key, HistoryEntry::new(at, HistoryKind::Note, text));
        }
        if let Some(kind) = event {
            let key = key.get(index);
            self.tell(index, slot, key, kind, record, at);
        }
    }

    /// An event: its history line, then the pager's messages and lines.
    fn tell(
        &mut self,
        index: &mut Index,
        slot: SlotId,
        key: AlertKey,
        kind: EventKind,
        mut record: Record,
        at: UnixSecs,
    ) {
        // The index's records carry no detail: a record that has one got it
        // from this change (the newest); otherwise it is looked up
        // (unwritten in the index, or on disk).
        if record.detail.is_empty() {
            record.detail = self.detail_of(index, slot);
        }
        // An action writes its own line, with its author; the pager's lines
        // follow it.
        let line = (!self.acting)
            .then(|| HistoryEntry::new(at, HistoryKind::Update, event_text(kind, &record)));
        let bucket = index.bucket_of(slot);
        let mut said = self.said.say(index);
        said.changed.push(bucket);
        if let Some(line) = line {
            said.history(key.clone(), line);
        }
        drop(said);
        let mut effects = std::mem::take(&mut self.effects);
        self.given
            .pager
            .on_event_owned(key, kind, record, at, &mut effects);
        self.take_effects(index, &mut effects);
        self.effects = effects;
    }

    /// Tells the open pages of a change (nothing is built when none is
    /// open).
    pub(super) fn tell_pages(
        &self,
        key: impl FnOnce() -> AlertKey,
        state: &'static str,
        record: &Record,
        raised: bool,
    ) {
        if self.given.changes.receiver_count() == 0 {
            return;
        }
        let key = key();
        let _ = self.given.changes.send(Change {
            state,
            raised,
            source: key.source,
            id: key.id,
            subject: record.subject.clone(),
            summary: record.summary.clone(),
        });
    }

    /// [`Run::commit`] for an alert the index holds, its detail unchanged.
    pub(super) fn commit_known(
        &mut self,
        index: &mut Index,
        slot: SlotId,
        old: Record,
        transition: Transition,
        at: UnixSecs,
    ) {
        let hash = index.detail_hash_of(slot);
        let key = KeyOf { named: None, slot };
        self.commit(index, key, Some(old), transition, hash, false, at);
    }

    pub(super) fn act(&mut self, key: &AlertKey, by: &str, action: &Action) -> Reply {
        let now = self.given.clock.now();
        let shared = self.given.index.clone();
        let mut index = shared.write();
        let slot = index.find(&key.source, &key.id).ok_or(Error::NotFound)?;
        let old = index.record(slot);
        let transition = match action {
            Action::Acknowledge { until, .. } => Some(alert::acknowledge(
                &old,
                by,
                *until,
                self.given.max_acknowledgement_s,
                now,
            )?),
            Action::Unacknowledge => Some(alert::unacknowledge(&old, now)?),
            Action::Raise => Some(alert::raise_now(&old, &key.source, &key.id, now)),
            Action::Clear => Some(alert::clear_now(&old, &key.source, &key.id, now)),
            Action::Suppress { until } => Some(alert::suppress(&old, *until, now)?),
            Action::Unsuppress => Some(alert::unsuppress(&old, now)?),
            Action::Silence { until, .. } => Some(alert::suppress(
                &old,
                (*until).max(old.suppress_until.unwrap_or(0)),
                now,
            )?),
            Action::Unsilence {
                still_until: Some(until),
                ..
            } => Some(alert::suppress(&old, *until, now)?),
            Action::Unsilence {
                still_until: None, ..
            } => Some(alert::unsuppress(&old, now)?),
            Action::Note { .. } | Action::Forget => None,
        };
        let (kind, text) = action.history(by, &self.given.pager.router.calendar.zone);
        let bucket = index.bucket_of(slot);
        let mut said = self.said.say(&mut index);
        said.changed.push(bucket);
        said.history(key.clone(), HistoryEntry::new(now, kind, text).authored(by));
        drop(said);
        if *action == Action::Forget {
            self.forget(&mut index, slot, &old);
            return Ok(old);
        }
        let Some(transition) = transition else {
            // A note changes nothing but the history: written with the next flush.
            self.dirty
                .mark(index.bucket_of(slot), Tier::Told, self.given.clock.now_ms());
            return Ok(old);
        };
        let record = transition.record.clone();
        self.acting = true;
        self.commit_known(&mut index, slot, old, transition, now);
        self.acting = false;
        Ok(record)
    }

    /// An alert's detail: changed and not yet written, or from the store.
    pub(super) fn detail_of(&self, index: &Index, slot: SlotId) -> String {
        match index.unwritten_detail(slot) {
            Some(detail) => String::from(&**detail),
            None if index.detail_hash_of(slot) == 0 => String::new(),
            None => self
                .given
                .store
                .detail(index.bucket_of(slot), &index.key(slot))
                .unwrap_or_else(|err| {
                    self.store_failed(&err);
                    String::new()
                }),
        }
    }

    /// Messages, history and paging state from the pager, to be written
    /// with the next urgent batch, under the index's write lock (the
    /// `&mut Index`), so the writer never sees a change without what it
    /// said. `effects` is left
    /// empty (its room kept).
    pub(super) fn take_effects(&mut self, index: &mut Index, effects: &mut Effects) {
        let c = std::mem::take(&mut self.given.pager.counts);
        self.given.metrics.paging(c);
        let changes = self.given.pager.take_changes();
        let mut said = self.said.say(index);
        said.messages.extend(effects.messages.drain(..));
        said.history.extend(effects.history.drain(..));
        said.paging.extend(changes);
    }
}
