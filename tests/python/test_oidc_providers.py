"""OpenID Connect providers end to end with boto3: the ARN AWS forms from the URL, client ids,
thumbprints checked for form (40 hex digits, at most 5), tags and AWS's errors.
"""

import pytest
from botocore.exceptions import ClientError

from conftest import unique

THUMB = "9e99a48a9960b14926bb7f3b02e22da2b0ab7280"


def error(excinfo):
    resp = excinfo.value.response
    return resp["Error"]["Code"], resp["ResponseMetadata"]["HTTPStatusCode"], resp["Error"]["Message"]


def test_oidc_provider_lifecycle(server):
    iam = server.iam()
    host = f"{unique('token')}.actions.example.com"
    url = f"https://{host}"
    arn = iam.create_open_id_connect_provider(Url=url, ClientIDList=["sts.amazonaws.com"], ThumbprintList=[THUMB],
                                              Tags=[{"Key": "ci", "Value": "github"}])["OpenIDConnectProviderArn"]
    assert arn == f"arn:aws:iam::{server.account_id}:oidc-provider/{host}"
    got = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    assert (got["Url"], got["ClientIDList"], got["ThumbprintList"]) == (host, ["sts.amazonaws.com"], [THUMB])
    assert got["Tags"] == [{"Key": "ci", "Value": "github"}]
    assert arn in [p["Arn"] for p in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]]

    with pytest.raises(ClientError) as e:
        iam.create_open_id_connect_provider(Url=url, ThumbprintList=[THUMB])
    assert error(e) == ("EntityAlreadyExists", 409, f"Provider with url {url} already exists.")

    iam.add_client_id_to_open_id_connect_provider(OpenIDConnectProviderArn=arn, ClientID="my-app")
    iam.remove_client_id_from_open_id_connect_provider(OpenIDConnectProviderArn=arn, ClientID="sts.amazonaws.com")
    assert iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)["ClientIDList"] == ["my-app"]

    unchecked = server.client("iam", parameter_validation=False)
    with pytest.raises(ClientError) as e:
        unchecked.update_open_id_connect_provider_thumbprint(OpenIDConnectProviderArn=arn, ThumbprintList=["z" * 40])
    assert error(e)[:2] == ("InvalidInput", 400)
    with pytest.raises(ClientError) as e:
        iam.update_open_id_connect_provider_thumbprint(OpenIDConnectProviderArn=arn, ThumbprintList=[THUMB] * 6)
    assert error(e)[:2] == ("LimitExceeded", 409)
    other = "a" * 40
    iam.update_open_id_connect_provider_thumbprint(OpenIDConnectProviderArn=arn, ThumbprintList=[other])
    assert iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)["ThumbprintList"] == [other]

    iam.tag_open_id_connect_provider(OpenIDConnectProviderArn=arn, Tags=[{"Key": "env", "Value": "prod"}])
    iam.untag_open_id_connect_provider(OpenIDConnectProviderArn=arn, TagKeys=["ci"])
    assert iam.list_open_id_connect_provider_tags(OpenIDConnectProviderArn=arn)["Tags"] == [{"Key": "env", "Value": "prod"}]

    iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    with pytest.raises(ClientError) as e:
        iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    assert error(e) == ("NoSuchEntity", 404, f"OpenIDConnect Provider not found for arn {arn}")


def test_an_oidc_url_must_be_https(server):
    iam = server.iam()
    with pytest.raises(ClientError) as e:
        iam.create_open_id_connect_provider(Url="http://insecure.example.com", ThumbprintList=[THUMB])
    assert error(e)[:2] == ("InvalidInput", 400)
