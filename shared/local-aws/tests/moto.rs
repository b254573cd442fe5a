//! The helper starts a real moto server and stops it on drop.

use local_aws::Moto;

#[tokio::test]
async fn given_moto_started_when_dropped_then_it_answered_and_the_port_is_closed() {
    // GIVEN a moto server forked from the warm zygote, and one of its own process
    for moto in [Moto::start().await, Moto::start_alone().await] {
        dropped_then_closed(moto.expect("moto_server starts (run `make venv`)")).await;
    }
}

async fn dropped_then_closed(moto: Moto) {
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

#[tokio::test]
async fn given_motos_started_at_once_when_one_is_written_then_each_has_its_own_port_and_state() {
    // GIVEN four moto servers started at the same time (as nextest starts tests side by side);
    // each binds the port it is given by the operating system itself, so none can be handed a
    // port another process took in the meantime
    let motos = start_four().await;
    let mut ports: Vec<&str> = motos.iter().map(Moto::endpoint_url).collect();
    ports.sort_unstable();
    ports.dedup();
    assert_eq!(ports.len(), 4, "one port each: {ports:?}");

    // WHEN a queue is created in the first
    let first = aws_sdk_sqs::Client::new(&motos[0].sdk_config().await);
    first
        .create_queue()
        .queue_name("only-in-the-first")
        .send()
        .await
        .expect("queue created");

    // THEN only the first lists it: each test talks to its own server
    for (index, moto) in motos.iter().enumerate() {
        let client = aws_sdk_sqs::Client::new(&moto.sdk_config().await);
        let urls = client
            .list_queues()
            .send()
            .await
            .expect("queues listed")
            .queue_urls()
            .to_vec();
        assert_eq!(
            urls.len(),
            usize::from(index == 0),
            "moto {index}: {urls:?}"
        );
    }
}

async fn start_four() -> Vec<Moto> {
    let start = || async { Moto::start().await.expect("moto_server starts") };
    let (a, b, c, d) = tokio::join!(start(), start(), start(), start());
    vec![a, b, c, d]
}
