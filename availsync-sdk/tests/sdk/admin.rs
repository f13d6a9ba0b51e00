//! The admin client against the real server.

use availsync_sdk::types::UpdateAgentRequest;
use availsync_sdk::{AdminClient, AuditQuery, Client, Mode};
use futures::TryStreamExt;

use crate::support::World;

#[tokio::test]
async fn humans_manage_agents_and_keys_and_read_the_audit_log() {
    let world = World::new().await;
    let admin = &world.admin;
    assert!(admin.is_signed_in());
    let session = admin.session().await.unwrap();
    assert_eq!(session.user.email, world.email);

    let created = admin.create_agent("ci-bot", None).await.unwrap();
    assert_eq!(created.agent.mode, Mode::Enforce);
    assert!(
        !format!("{created:?}").contains(&created.api_key),
        "Debug leaked the key"
    );
    let agents = admin.agents_page(None, None).await.unwrap();
    assert_eq!(agents.items[0].id, created.agent.id);

    let renamed = admin
        .update_agent(
            &created.agent.id,
            &UpdateAgentRequest {
                name: Some("nightly".into()),
                mode: Some(Mode::Observe),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (renamed.name.as_str(), renamed.mode),
        ("nightly", Mode::Observe)
    );

    let old = Client::builder()
        .base_url(world.server.url())
        .api_key(&created.api_key)
        .build()
        .unwrap();
    old.check("repo:acme/web").await.unwrap();
    let rotated = admin.rotate_key(&created.agent.id).await.unwrap();
    assert!(
        old.check("repo:acme/web")
            .await
            .unwrap_err()
            .is_unauthenticated()
    );
    let new = Client::builder()
        .base_url(world.server.url())
        .api_key(&rotated.api_key)
        .build()
        .unwrap();
    new.check("repo:acme/web").await.unwrap();

    admin.delete_agent(&created.agent.id).await.unwrap();
    assert!(
        new.check("repo:acme/web")
            .await
            .unwrap_err()
            .is_unauthenticated()
    );

    let actions: Vec<String> = admin
        .audit(AuditQuery {
            limit: Some(2),
            ..AuditQuery::default()
        })
        .map_ok(|item| item.action)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(
        actions,
        [
            "agent_deleted",
            "agent_key_rotated",
            "agent_updated",
            "agent_created",
            "signup"
        ]
    );
    let usage = admin.usage(None, None).await.unwrap();
    assert_eq!(usage.usage.agents, 0);

    admin.logout().await.unwrap();
    assert!(!admin.is_signed_in());
    assert!(admin.session().await.unwrap_err().is_unauthenticated());
    admin
        .login(&world.email, "correct horse battery")
        .await
        .unwrap();
    assert!(admin.session().await.is_ok());

    let stranger = AdminClient::new(&world.server.url()).unwrap();
    let wrong = stranger
        .login(&world.email, "wrong password!")
        .await
        .unwrap_err();
    assert!(wrong.is_unauthenticated());
}
