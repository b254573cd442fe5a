//! The helper starts a real moto server and stops it on drop.

use local_aws::Moto;

#[tokio::test]
async fn given_moto_started_when_dropped_then_it_answered_and_the_port_is_closed() {
    // GIVEN a started moto server
    let moto = Moto::start()
        .await
        .expect("moto_server starts (run `make venv`)");
    let endpoint = moto.endpoint_url().to_owned();
    let address = endpoint.trim_start_matches("http://").to_owned();

    // THEN it accepts connections on loopback
    assert!(endpoint.starts_with("http://127.0.0.1:"), "{endpoint}");
    assert!(tokio::net::TcpStream::connect(&address).await.is_ok());
    let config = moto.sdk_config().await;
    assert_eq!(config.region().map(|r| r.as_ref()), Some("us-east-1"));
    assert_eq!(config.endpoint_url(), Some(endpoint.as_str()));

    // WHEN it is dropped
    drop(moto);

    // THEN nothing listens on its port any more
    assert!(tokio::net::TcpStream::connect(&address).await.is_err());
}
