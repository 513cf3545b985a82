//! Every entity under its PascalCase name, [`CompetitorSource`] and [`SnapshotKind`].

pub use crate::competitor_event::Entity as CompetitorEvent;
pub use crate::competitor_market_odds::Entity as CompetitorMarketOdds;
pub use crate::competitor_market_odds_current::Entity as CompetitorMarketOddsCurrent;
pub use crate::competitor_odds_snapshot::Entity as CompetitorOddsSnapshot;
pub use crate::competitor_source::CompetitorSource;
pub use crate::competitor_tournament::Entity as CompetitorTournament;
pub use crate::event::Entity as Event;
pub use crate::scrape_run::Entity as ScrapeRun;
pub use crate::snapshot_kind::SnapshotKind;
pub use crate::soft_delete::SoftDelete;
pub use crate::sport::Entity as Sport;
pub use crate::tournament::Entity as Tournament;
