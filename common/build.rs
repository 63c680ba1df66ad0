//! Rebuilds the crate when a migration is added or changed: `sqlx::migrate!`
//! embeds `migrations/postgres` at compile time, and without this an
//! incremental build keeps the old set (what `sqlx migrate build-script`
//! writes).

fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
