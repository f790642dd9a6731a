use futures::TryStreamExt;
use object_store::ObjectStoreExt;
use object_store::path::Path;

use super::*;

fn s3(bucket: &str) -> S3Config {
    S3Config {
        bucket: bucket.to_owned(),
        prefix: Some("/strata/prod/".to_owned()),
        region: Some("eu-west-1".to_owned()),
        endpoint: Some("http://127.0.0.1:9".to_owned()),
        access_key_id: Some("AKIDEXAMPLE".to_owned()),
        secret_access_key: Some("very-secret-value".to_owned()),
        allow_http: true,
        virtual_hosted_style: false,
    }
}

#[tokio::test]
async fn local_config_builds_and_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data").join("objects");
    let config = ObjectStoreConfig::Local { root: root.clone() };
    assert_eq!(config.describe(), format!("local {}", root.display()));

    let store = config.build().unwrap();
    assert!(root.is_dir(), "build creates the directory");
    assert!(store.to_string().starts_with("DurableLocalStore("));

    let path = Path::from("dbs/1/tables/2/file.parquet");
    store.put(&path, "hello".into()).await.unwrap();
    let got = store.get(&path).await.unwrap().bytes().await.unwrap();
    assert_eq!(got.as_ref(), b"hello");

    let listed: Vec<_> = store
        .list(Some(&Path::from("dbs")))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].location, path);
    assert_eq!(listed[0].size, 5);

    store.delete(&path).await.unwrap();
    let err = store.get(&path).await.unwrap_err();
    assert!(matches!(err, object_store::Error::NotFound { .. }), "{err}");
    let listed: Vec<_> = store.list(None).try_collect().await.unwrap();
    assert!(listed.is_empty());
}

#[test]
fn local_in_data_dir() {
    let config = ObjectStoreConfig::local_in(std::path::Path::new("/var/lib/strata"));
    assert_eq!(
        config,
        ObjectStoreConfig::Local {
            root: PathBuf::from("/var/lib/strata/objects")
        }
    );
}

#[test]
fn local_root_that_is_a_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("objects");
    std::fs::write(&file, b"not a dir").unwrap();
    let err = ObjectStoreConfig::Local { root: file.clone() }
        .build()
        .unwrap_err();
    assert!(matches!(err, ObjectsError::CreateLocalRoot { .. }), "{err}");
    assert!(
        err.to_string().contains(&file.display().to_string()),
        "{err}"
    );
}

#[test]
fn s3_config_builds_without_network() {
    let config = ObjectStoreConfig::S3(s3("strata-data"));
    let store = config.build().unwrap();
    // The prefix wraps the store.
    assert!(store.to_string().contains("strata/prod"), "{store}");
}

#[test]
fn s3_without_prefix_builds() {
    let mut cfg = s3("strata-data");
    cfg.prefix = Some("/".to_owned());
    cfg.virtual_hosted_style = true;
    let store = ObjectStoreConfig::S3(cfg).build().unwrap();
    assert!(store.to_string().starts_with("AmazonS3"), "{store}");
}

#[test]
fn describe_and_debug_never_show_the_secret() {
    let config = ObjectStoreConfig::S3(s3("strata-data"));
    let described = config.describe();
    assert_eq!(
        described,
        "s3://strata-data/strata/prod (endpoint http://127.0.0.1:9, region eu-west-1, static credentials)"
    );
    let debug = format!("{config:?}");
    assert!(!debug.contains("very-secret-value"), "{debug}");
    assert!(debug.contains("<redacted>"), "{debug}");
    assert!(debug.contains("strata-data"), "{debug}");

    let minimal = S3Config {
        bucket: "b".to_owned(),
        ..S3Config::default()
    };
    assert_eq!(ObjectStoreConfig::S3(minimal.clone()).describe(), "s3://b");
    assert!(format!("{minimal:?}").contains("secret_access_key: None"));
}

#[test]
fn empty_bucket_is_a_clear_error() {
    let err = ObjectStoreConfig::S3(s3("  ")).build().unwrap_err();
    assert!(matches!(err, ObjectsError::EmptyBucket), "{err}");
    assert!(err.to_string().contains("S3 bucket name is empty"), "{err}");
}

#[test]
fn bucket_with_a_path_is_rejected() {
    for bucket in ["s3://strata", "strata/prod"] {
        let err = ObjectStoreConfig::S3(s3(bucket)).build().unwrap_err();
        assert!(matches!(err, ObjectsError::InvalidBucket { .. }), "{err}");
        assert!(err.to_string().contains("prefix"), "{err}");
    }
}

#[test]
fn invalid_prefix_is_rejected() {
    let mut cfg = s3("strata");
    cfg.prefix = Some("a/../b".to_owned());
    let err = ObjectStoreConfig::S3(cfg).build().unwrap_err();
    assert!(matches!(err, ObjectsError::InvalidPrefix { .. }), "{err}");
}

#[test]
fn http_endpoint_requires_allow_http() {
    if std::env::var_os("AWS_ALLOW_HTTP").is_some() {
        return; // the environment overrides the file
    }
    let mut cfg = s3("strata");
    cfg.allow_http = false;
    let err = ObjectStoreConfig::S3(cfg).build().unwrap_err();
    assert!(matches!(err, ObjectsError::HttpNotAllowed { .. }), "{err}");
    assert!(err.to_string().contains("allow_http"), "{err}");
}

#[test]
fn key_without_secret_reports_the_builder_error() {
    if std::env::var_os("AWS_SECRET_ACCESS_KEY").is_some() {
        return; // the environment supplies the secret
    }
    let mut cfg = s3("strata");
    cfg.secret_access_key = None;
    let err = ObjectStoreConfig::S3(cfg).build().unwrap_err();
    assert!(matches!(err, ObjectsError::S3 { .. }), "{err}");
    assert!(err.to_string().contains("strata"), "{err}");
}

#[test]
fn config_deserializes_from_a_tagged_table() {
    let local: ObjectStoreConfig =
        serde_json::from_str(r#"{"type": "local", "root": "/srv/objects"}"#).unwrap();
    assert_eq!(
        local,
        ObjectStoreConfig::Local {
            root: PathBuf::from("/srv/objects")
        }
    );

    let s3: ObjectStoreConfig = serde_json::from_str(
        r#"{"type": "s3", "bucket": "b", "endpoint": "http://minio:9000", "allow_http": true}"#,
    )
    .unwrap();
    assert_eq!(
        s3,
        ObjectStoreConfig::S3(S3Config {
            bucket: "b".to_owned(),
            endpoint: Some("http://minio:9000".to_owned()),
            allow_http: true,
            ..S3Config::default()
        })
    );

    // A misspelt key must not be silently ignored.
    let err = serde_json::from_str::<ObjectStoreConfig>(
        r#"{"type": "s3", "bucket": "b", "secret_acess_key": "x"}"#,
    )
    .unwrap_err();
    assert!(err.to_string().contains("secret_acess_key"), "{err}");
    let err =
        serde_json::from_str::<ObjectStoreConfig>(r#"{"type": "local", "rot": "/x"}"#).unwrap_err();
    assert!(err.to_string().contains("rot"), "{err}");
}
