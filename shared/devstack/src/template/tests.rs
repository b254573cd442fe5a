use super::*;
use std::collections::HashMap;
use std::time::Duration;

fn workspace_root() -> PathBuf {
    normalize(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
}

fn real_template() -> Template {
    Template::load(&workspace_root().join("infra/template.yaml")).expect("the real template")
}

struct Fixed(HashMap<String, String>);

impl Lookup for Fixed {
    fn reference(&self, name: &str) -> Option<String> {
        self.0.get(name).cloned()
    }
    fn attribute(&self, resource: &str, attribute: &str) -> Option<String> {
        self.0.get(&format!("{resource}.{attribute}")).cloned()
    }
}

#[test]
fn given_the_real_template_when_parsed_then_the_table_has_pk_sk_and_ttl() {
    let template = real_template();

    let [table] = template.tables.as_slice() else {
        panic!("one table expected, got {:?}", template.tables);
    };
    assert_eq!(
        table.key_schema,
        vec![
            KeyElement {
                attribute_name: "pk".into(),
                key_type: "HASH".into()
            },
            KeyElement {
                attribute_name: "sk".into(),
                key_type: "RANGE".into()
            },
        ]
    );
    assert_eq!(table.ttl_attribute.as_deref(), Some("expires_at"));
}

#[test]
fn given_the_real_template_when_parsed_then_every_queue_has_a_dead_letter_queue_of_its_kind() {
    let template = real_template();

    for name in [
        "SyncQueue",
        "OnboardingQueue",
        "OffboardingQueue",
        "LicenseRefreshQueue",
    ] {
        let queue = template.queue(name).unwrap_or_else(|| panic!("{name}"));
        let redrive = queue.redrive_policy.as_ref().expect("redrive policy");
        // The jobs runner fails a job for good on its last delivery, so it must know this; on a
        // FIFO queue the deliveries a job spends waiting for Graph come on top.
        let expected = if queue.fifo {
            lifecycle::MAX_DELIVERIES + lifecycle::jobs::MAX_FIFO_WAITS
        } else {
            lifecycle::MAX_DELIVERIES
        };
        assert_eq!(
            redrive.max_receive_count, expected,
            "{name}: maxReceiveCount and lifecycle::MAX_DELIVERIES (+ MAX_FIFO_WAITS) must agree"
        );
        let dlq = template
            .queue(redrive.dead_letter_target_arn.target().expect("a GetAtt"))
            .expect("the DLQ is in the template");
        assert_eq!(
            dlq.fifo, queue.fifo,
            "{name}: a FIFO queue needs a FIFO DLQ"
        );
        assert_eq!(dlq.message_retention_period, Some(1_209_600), "{name}");
    }
    let onboarding = template.queue("OnboardingQueue").expect("onboarding");
    assert!(onboarding.fifo && !onboarding.content_based_deduplication);
}

#[test]
fn given_the_real_template_when_parsed_then_the_api_function_serves_get_health() {
    let template = real_template();

    let api = template.function("ApiFunction").expect("ApiFunction");
    assert_eq!(api.code_key(&workspace_root()), "functions/api");
    assert!(api.events.iter().any(|e| e.source
        == EventSource::HttpApi {
            method: "GET".into(),
            path: "/health".into()
        }));
    assert_eq!(
        api.timeout,
        Some(29),
        "its own Timeout, under API Gateway's 30 s integration limit"
    );
    let dead_letters = template
        .function("DeadLetterFunction")
        .expect("DeadLetterFunction");
    assert_eq!(
        dead_letters.timeout,
        Some(30),
        "Globals.Function.Timeout applies where a function sets none"
    );
}

#[test]
fn given_the_real_template_when_parsed_then_routes_need_the_jwt_authorizer_unless_they_opt_out() {
    let template = real_template();
    let authorizer_of = |function: &str, event: &str| {
        let spec = template.function(function).expect(function);
        let event = spec.events.iter().find(|e| e.name == event).expect(event);
        template.route_authorizer(event).map(|a| a.name.clone())
    };

    assert_eq!(authorizer_of("ApiFunction", "Health"), None);
    assert_eq!(
        authorizer_of("OAuthCallbackFunction", "OAuthCallback"),
        None
    );
    for (function, event) in [
        ("ApiFunction", "ListTenants"),
        ("ApiFunction", "GetTenant"),
        ("OAuthCallbackFunction", "Connect"),
        ("OAuthCallbackFunction", "ConnectOwnApp"),
    ] {
        assert_eq!(
            authorizer_of(function, event).as_deref(),
            Some("PlatformJwt"),
            "{function}.{event}"
        );
    }
    let jwt = &template.http_api_specs[0].authorizers[0];
    assert_eq!(jwt.header().as_deref(), Some("authorization"));
    assert_eq!(jwt.issuer, Expr::Ref("ApiJwtIssuer".into()));
    assert_eq!(jwt.audience, [Expr::Ref("ApiJwtAudience".into())]);
}

#[test]
fn given_the_real_template_when_parsed_then_every_authorized_route_names_its_scope() {
    // GIVEN the real template
    let template = real_template();
    // WHEN each HttpApi route's scopes are read
    let scopes_of = |function: &str, event: &str| {
        let spec = template.function(function).expect(function);
        spec.events
            .iter()
            .find(|e| e.name == event)
            .expect(event)
            .scopes
            .clone()
    };
    // THEN reads need lifecycle.read, changes lifecycle.write, connecting and removal
    // tenants.admin; and no route behind the authorizer goes without a scope
    assert_eq!(scopes_of("ApiFunction", "GetTenant"), ["lifecycle.read"]);
    assert_eq!(scopes_of("ApiFunction", "SubmitJob"), ["lifecycle.write"]);
    assert_eq!(scopes_of("ApiFunction", "RequestSync"), ["lifecycle.write"]);
    assert_eq!(scopes_of("ApiFunction", "RemoveTenant"), ["tenants.admin"]);
    assert_eq!(
        scopes_of("OAuthCallbackFunction", "Connect"),
        ["tenants.admin"]
    );
    assert_eq!(
        scopes_of("OAuthCallbackFunction", "ConnectOwnApp"),
        ["tenants.admin"]
    );
    for function in &template.functions {
        for event in &function.events {
            if template.route_authorizer(event).is_some() {
                assert!(
                    !event.scopes.is_empty(),
                    "{}.{} has no AuthorizationScopes",
                    function.logical_id,
                    event.name
                );
            }
        }
    }
}

#[test]
fn given_authorization_scopes_that_are_not_a_list_of_names_when_parsed_then_the_template_is_refused()
 {
    // GIVEN a route whose AuthorizationScopes is a string, or holds a name with a space
    for scopes in ["lifecycle.read", "[\"lifecycle read\"]"] {
        let yaml = format!(
            "Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: x\n      Events:\n        E:\n          Type: HttpApi\n          Properties:\n            Method: GET\n            Path: /x\n            Auth:\n              AuthorizationScopes: {scopes}\n"
        );
        // WHEN it is parsed
        let parsed = Template::from_yaml(&yaml, Path::new("/repo/infra"));
        // THEN it is refused, naming where
        let error = parsed.expect_err(scopes).to_string();
        assert!(error.contains("AuthorizationScopes"), "{error}");
    }
}

#[test]
fn given_the_real_template_when_the_environment_is_resolved_then_every_config_variable_is_set() {
    let template = real_template();
    let api = template.function("ApiFunction").expect("ApiFunction");
    let mut known: HashMap<String, String> = HashMap::new();
    for name in template.parameters.keys() {
        known.insert(name.clone(), format!("param:{name}"));
    }
    for q in &template.queues {
        known.insert(q.logical_id.clone(), format!("url:{}", q.logical_id));
    }
    for s in &template.secrets {
        known.insert(s.logical_id.clone(), format!("arn:{}", s.logical_id));
    }
    known.insert("Table".into(), "table".into());
    known.insert("AWS::StackName".into(), "stack".into());
    let lookup = Fixed(known);

    let vars: HashMap<String, String> = api
        .environment
        .iter()
        .map(|(k, e)| (k.clone(), e.resolve(&lookup, k).expect(k)))
        .collect();

    assert_eq!(vars["SECRET_PREFIX"], "stack/");
    assert_eq!(vars["ONBOARDING_QUEUE_URL"], "url:OnboardingQueue");
    assert_eq!(vars["PLATFORM_APP_SECRET_ID"], "arn:PlatformAppSecret");
    for name in [
        "TABLE_NAME",
        "SYNC_QUEUE_URL",
        "ONBOARDING_QUEUE_URL",
        "OFFBOARDING_QUEUE_URL",
        "LICENSE_REFRESH_QUEUE_URL",
        "GRAPH_BASE_URL",
        "LOGIN_BASE_URL",
        "SECRET_PREFIX",
        "PLATFORM_APP_CLIENT_ID",
        "PLATFORM_APP_SECRET_ID",
        "STATE_SIGNING_KEY_SECRET_ID",
        "PUBLIC_BASE_URL",
    ] {
        assert!(vars.contains_key(name), "{name} missing from Globals");
    }
}

#[test]
fn given_sqs_and_schedule_events_when_parsed_then_batch_size_failures_and_rate_are_read() {
    let yaml = r#"
Resources:
  Jobs:
    Type: AWS::SQS::Queue
    Properties: { FifoQueue: true }
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: ../functions/worker
      Timeout: 900
      Environment:
        Variables: { EXTRA: !Join ["-", [a, !Ref Jobs]] }
      Events:
        Jobs:
          Type: SQS
          Properties:
            Queue: { "Fn::GetAtt": [Jobs, Arn] }
            BatchSize: 5
            FunctionResponseTypes: [ReportBatchItemFailures]
        Hourly:
          Type: Schedule
          Properties: { Schedule: rate(1 hour) }
        Nightly:
          Type: Schedule
          Properties: { Schedule: "cron(0 3 * * ? *)", Enabled: false }
        Everything:
          Type: HttpApi
"#;
    let template = Template::from_yaml(yaml, Path::new("/repo/infra")).expect("parses");

    let worker = template.function("Worker").expect("Worker");
    assert_eq!(worker.code_key(Path::new("/repo")), "functions/worker");
    assert_eq!(worker.timeout, Some(900));
    assert_eq!(
        worker.events[0].source,
        EventSource::Sqs {
            queue: "Jobs".into(),
            batch_size: 5,
            report_batch_item_failures: true
        }
    );
    assert_eq!(
        worker.events[1].source,
        EventSource::Schedule {
            expression: ScheduleExpression::Rate(Duration::from_secs(3600)),
            enabled: true,
            input: None
        }
    );
    assert_eq!(
        worker.events[2].source,
        EventSource::Schedule {
            expression: ScheduleExpression::Cron("0 3 * * ? *".into()),
            enabled: false,
            input: None
        }
    );
    assert_eq!(
        worker.events[3].source,
        EventSource::HttpApi {
            method: "$default".into(),
            path: "$default".into()
        }
    );
    let lookup = Fixed(HashMap::from([("Jobs".into(), "url".into())]));
    assert_eq!(
        worker.environment["EXTRA"]
            .resolve(&lookup, "EXTRA")
            .expect("resolves"),
        "a-url"
    );
}

#[test]
fn given_an_sqs_event_on_a_queue_not_in_the_template_when_parsed_then_the_error_names_it() {
    let yaml = r#"
Resources:
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: ../functions/worker
      Events:
        Jobs:
          Type: SQS
          Properties: { Queue: !GetAtt Missing.Arn }
"#;
    let err = Template::from_yaml(yaml, Path::new("/repo/infra")).unwrap_err();

    assert!(err.to_string().contains("queue Missing"), "{err}");
}

#[test]
fn given_an_unsupported_event_type_when_parsed_then_the_error_names_function_and_type() {
    let yaml = r#"
Resources:
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: ../functions/worker
      Events:
        Upload: { Type: S3, Properties: { Bucket: b, Events: s3:ObjectCreated:* } }
"#;
    let err = Template::from_yaml(yaml, Path::new("/repo/infra")).unwrap_err();

    assert_eq!(
        err.to_string(),
        "function Worker, event Upload: event type S3 is not supported by the devstack"
    );
}

#[test]
fn given_a_sub_with_attributes_and_escapes_when_resolved_then_each_part_is_replaced() {
    let expr = Expr::Sub {
        template: "arn:${AWS::Region}:${Queue.Arn}/${!Literal}/${Name}".into(),
        variables: BTreeMap::from([("Name".into(), Expr::Literal("n".into()))]),
    };
    let lookup = Fixed(HashMap::from([
        ("AWS::Region".into(), "us-east-1".into()),
        ("Queue.Arn".into(), "q".into()),
    ]));

    assert_eq!(
        expr.resolve(&lookup, "x").expect("resolves"),
        "arn:us-east-1:q/${Literal}/n"
    );
    let missing = Expr::Ref("Nope".into())
        .resolve(&lookup, "Env.X")
        .unwrap_err();
    assert_eq!(
        missing.to_string(),
        "Env.X: !Ref Nope is not known locally (no such parameter or resource)"
    );
}

#[test]
fn given_rate_expressions_when_parsed_then_units_and_bad_input_are_handled() {
    assert_eq!(
        ScheduleExpression::parse("rate(5 minutes)"),
        Some(ScheduleExpression::Rate(Duration::from_secs(300)))
    );
    assert_eq!(
        ScheduleExpression::parse("rate(1 day)"),
        Some(ScheduleExpression::Rate(Duration::from_secs(86_400)))
    );
    assert_eq!(ScheduleExpression::parse("rate(0 minutes)"), None);
    assert_eq!(ScheduleExpression::parse("rate(5 fortnights)"), None);
    assert_eq!(ScheduleExpression::parse("every hour"), None);
}

#[test]
fn given_the_real_template_when_parsed_then_each_function_has_its_policy_statements() {
    // GIVEN the real template
    let template = real_template();

    // WHEN the offboarding function's policy is read
    let offboarding = template
        .functions
        .iter()
        .find(|f| f.logical_id == "OffboardingFunction")
        .expect("the offboarding function");
    let actions: Vec<&str> = offboarding
        .policy
        .iter()
        .flat_map(|s| s.actions.iter().map(String::as_str))
        .collect();

    // THEN its statements are there with their actions and unresolved resources
    assert!(actions.contains(&"dynamodb:Query"), "{actions:?}");
    assert!(actions.contains(&"events:PutEvents"), "{actions:?}");
    assert!(offboarding.policy.iter().all(|s| !s.resources.is_empty()));
}

#[test]
fn given_a_sam_policy_template_when_parsed_then_it_is_refused_with_its_location() {
    // GIVEN a function whose policy is a SAM policy template (the devstack cannot grant exactly it)
    let yaml = r#"
Resources:
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: ../functions/worker
      Policies:
        - DynamoDBCrudPolicy: { TableName: t }
"#;

    // WHEN it is parsed
    let err = Template::from_yaml(yaml, Path::new("/repo/infra")).unwrap_err();

    // THEN the error names the policy and says what is supported
    let message = err.to_string();
    assert!(
        message.contains("Worker") && message.contains("Policies[0]"),
        "{message}"
    );
    assert!(message.contains("inline policies"), "{message}");
}

/// The real template as plain YAML, for checks of resources the devstack does not run (alarms,
/// log groups).
fn real_template_yaml() -> serde_yaml::Mapping {
    let text = std::fs::read_to_string(workspace_root().join("infra/template.yaml"))
        .expect("infra/template.yaml");
    let document: Value = serde_yaml::from_str(&text).expect("valid YAML");
    document
        .get("Resources")
        .and_then(Value::as_mapping)
        .cloned()
        .expect("Resources")
}

/// The logical id a `!Ref X` or `!GetAtt X.Attr` points at.
fn referenced_resource(value: &Value) -> Option<String> {
    match value {
        Value::Tagged(tagged) => match tagged.tag.to_string().as_str() {
            "!Ref" => tagged.value.as_str().map(str::to_owned),
            "!GetAtt" => tagged
                .value
                .as_str()
                .and_then(|s| s.split('.').next())
                .map(str::to_owned),
            _ => None,
        },
        _ => None,
    }
}

fn resources_of_type<'a>(
    resources: &'a serde_yaml::Mapping,
    kind: &str,
) -> Vec<(String, &'a Value)> {
    resources
        .iter()
        .filter(|(_, r)| r.get("Type").and_then(Value::as_str) == Some(kind))
        .filter_map(|(id, r)| Some((id.as_str()?.to_owned(), r)))
        .collect()
}

#[test]
fn given_the_real_template_then_every_dead_letter_queue_has_an_alarm_on_the_alarm_topic() {
    // GIVEN the template's dead-letter queues (every queue some RedrivePolicy points at)
    let resources = real_template_yaml();
    let dead_letter_queues: Vec<String> = resources_of_type(&resources, "AWS::SQS::Queue")
        .into_iter()
        .filter_map(|(_, queue)| {
            referenced_resource(
                queue
                    .get("Properties")?
                    .get("RedrivePolicy")?
                    .get("deadLetterTargetArn")?,
            )
        })
        .collect();
    assert!(!dead_letter_queues.is_empty());

    // WHEN the alarms are read: which queue each watches, and whether it notifies the topic
    let alarms = resources_of_type(&resources, "AWS::CloudWatch::Alarm");
    let watched: Vec<String> = alarms
        .iter()
        .filter(|(_, alarm)| {
            let p = &alarm["Properties"];
            p.get("MetricName").and_then(Value::as_str)
                == Some("ApproximateNumberOfMessagesVisible")
                && p.get("AlarmActions")
                    .and_then(Value::as_sequence)
                    .is_some_and(|a| {
                        a.iter()
                            .any(|t| referenced_resource(t).as_deref() == Some("AlarmTopic"))
                    })
        })
        .filter_map(|(_, alarm)| {
            let dimensions = alarm["Properties"].get("Dimensions")?.as_sequence()?;
            dimensions
                .iter()
                .find(|d| d.get("Name").and_then(Value::as_str) == Some("QueueName"))
                .and_then(|d| referenced_resource(d.get("Value")?))
        })
        .collect();

    // THEN none is missing: a message in any of them pages the operator
    for queue in &dead_letter_queues {
        assert!(
            watched.contains(queue),
            "{queue} has no alarm on ApproximateNumberOfMessagesVisible notifying AlarmTopic: \
             add one in infra/template.yaml's operations section"
        );
    }
}

#[test]
fn given_the_real_template_then_every_function_logs_to_its_own_group_with_a_retention_and_has_error_alarms()
 {
    // GIVEN every function of the template
    let resources = real_template_yaml();
    let functions = resources_of_type(&resources, "AWS::Serverless::Function");
    assert!(!functions.is_empty());
    let alarms = resources_of_type(&resources, "AWS::CloudWatch::Alarm");

    for (id, function) in functions {
        // WHEN its log group and its alarms are looked up
        let group = function["Properties"]
            .get("LoggingConfig")
            .and_then(|c| c.get("LogGroup"))
            .and_then(referenced_resource)
            .unwrap_or_else(|| {
                panic!("{id} has no LoggingConfig.LogGroup: give it its own AWS::Logs::LogGroup")
            });
        let group = resources
            .get(group.as_str())
            .unwrap_or_else(|| panic!("{id}'s log group {group} is not a resource"));
        let alarmed_metrics: Vec<&str> = alarms
            .iter()
            .filter(|(_, alarm)| {
                alarm["Properties"]
                    .get("Dimensions")
                    .and_then(Value::as_sequence)
                    .is_some_and(|d| {
                        d.iter().any(|d| {
                            d.get("Name").and_then(Value::as_str) == Some("FunctionName")
                                && d.get("Value").and_then(referenced_resource).as_deref()
                                    == Some(id.as_str())
                        })
                    })
            })
            .filter_map(|(_, alarm)| alarm["Properties"].get("MetricName")?.as_str())
            .collect();

        // THEN its logs expire (a retention is set) and its errors and throttles raise an alarm
        assert_eq!(
            group.get("Type").and_then(Value::as_str),
            Some("AWS::Logs::LogGroup"),
            "{id}"
        );
        assert!(
            group["Properties"].get("RetentionInDays").is_some(),
            "{id}'s log group keeps logs forever: set RetentionInDays"
        );
        for metric in ["Errors", "Throttles"] {
            assert!(
                alarmed_metrics.contains(&metric),
                "{id} has no {metric} alarm: {alarmed_metrics:?}"
            );
        }
    }
}

#[test]
fn given_the_real_template_then_every_alarm_on_the_bundles_own_metrics_watches_a_metric_the_code_emits()
 {
    // GIVEN the alarms on the bundle's own namespace (Embedded Metric Format lines)
    let resources = real_template_yaml();
    let own: Vec<(String, String)> = resources_of_type(&resources, "AWS::CloudWatch::Alarm")
        .into_iter()
        .filter(|(_, alarm)| {
            alarm["Properties"].get("Namespace").and_then(Value::as_str)
                == Some(lifecycle::metrics::NAMESPACE)
        })
        .filter_map(|(id, alarm)| {
            Some((
                id,
                alarm["Properties"].get("MetricName")?.as_str()?.to_owned(),
            ))
        })
        .collect();
    assert!(!own.is_empty(), "no alarm watches the bundle's own metrics");

    // WHEN each metric name is looked up among those lifecycle::metrics emits
    // THEN every one is there: a renamed metric cannot leave an alarm watching nothing
    for (alarm, metric) in own {
        assert!(
            lifecycle::metrics::NAMES.contains(&metric.as_str()),
            "{alarm} watches {metric}, which no function emits (lifecycle::metrics::NAMES)"
        );
    }
}

#[test]
fn given_the_real_template_and_the_openapi_document_then_they_name_the_same_routes_and_scopes() {
    // GIVEN every HttpApi route of the template, with who may call it (public, or its scopes)
    let template = real_template();
    let mut in_template = std::collections::BTreeMap::new();
    for function in &template.functions {
        for event in &function.events {
            if let EventSource::HttpApi { method, path } = &event.source {
                let scopes = match template.route_authorizer(event) {
                    Some(_) => event.scopes.clone(),
                    None => Vec::new(),
                };
                in_template.insert(format!("{method} {path}"), scopes);
            }
        }
    }
    // WHEN the committed OpenAPI document's operations are read, with their security
    let document: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(workspace_root().join("docs/openapi.json"))
            .expect("docs/openapi.json"),
    )
    .expect("JSON");
    let mut in_document = std::collections::BTreeMap::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("a path item") {
            let scopes: Vec<String> = operation["security"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|requirement| requirement[api::openapi::SECURITY_SCHEME].as_array())
                .flatten()
                .filter_map(|scope| scope.as_str().map(str::to_owned))
                .collect();
            in_document.insert(format!("{} {path}", method.to_uppercase()), scopes);
        }
    }
    // THEN every route is in both, and each needs the same scopes in both
    assert_eq!(in_template.len(), 33, "{in_template:#?}");
    assert_eq!(in_document, in_template);
}

#[test]
fn given_the_real_template_then_cors_allows_only_the_platforms_origins_and_the_routes_methods() {
    // GIVEN the template's HTTP API and its parameters
    let text = std::fs::read_to_string(workspace_root().join("infra/template.yaml"))
        .expect("infra/template.yaml");
    let document: Value = serde_yaml::from_str(&text).expect("valid YAML");
    let cors = &document["Resources"]["HttpApi"]["Properties"]["CorsConfiguration"];
    let list = |key: &str| -> Vec<String> {
        cors[key]
            .as_sequence()
            .unwrap_or_else(|| panic!("CorsConfiguration.{key} is a list"))
            .iter()
            .filter_map(|v| v.as_str().map(str::to_lowercase))
            .collect()
    };

    // WHEN the CORS configuration is read
    // THEN the origins are the PlatformOrigins parameter: a list the operator must give, no default
    // (so never a wildcard by accident), and no credentials (the API takes bearer tokens)
    assert_eq!(
        referenced_resource(&cors["AllowOrigins"]).as_deref(),
        Some("PlatformOrigins")
    );
    let parameter = &document["Parameters"]["PlatformOrigins"];
    assert_eq!(parameter["Type"].as_str(), Some("CommaDelimitedList"));
    assert!(parameter.get("Default").is_none(), "no default origin");
    assert_eq!(cors["AllowCredentials"].as_bool(), Some(false));
    // AND a browser may send the headers the routes read, and every method a route uses
    let headers = list("AllowHeaders");
    for header in ["authorization", "content-type"] {
        assert!(
            headers.contains(&header.to_owned()),
            "{header}: {headers:?}"
        );
    }
    let methods = list("AllowMethods");
    let template = real_template();
    for function in &template.functions {
        for event in &function.events {
            if let EventSource::HttpApi { method, path } = &event.source {
                assert!(
                    methods.contains(&method.to_lowercase()),
                    "{method} {path} is not allowed by CORS: {methods:?}"
                );
            }
        }
    }
}
