//! One path for every call.
//!
//! [`Gatehouse::call`] runs an operation in one store transaction (a write transaction when
//! the operation changes anything): the handler's [`Handler::resolve`] reads what the call
//! acts on and says which permissions it needs ([`Access`], the rule language of `authz`);
//! `authz` decides them against the
//! caller's policies; only then does [`Handler::run`] execute, holding the [`Authorized`]
//! proof that only `authz` can make. A failure anywhere rolls the transaction back, so a
//! refused or failed call changes nothing.
//!
//! Why a handler cannot forget to authorize: the IAM and STS traits are implemented only by
//! the `operations!` macro, which routes every method to `call`; `call` accepts only
//! [`Handler`]s, and `resolve` has no default, so an operation without a rule does not
//! compile. An operation that needs no permission says so with `Access::Exempt` and a reason.

use gatehouse_protocol::error::ApiError;
use gatehouse_store::{Txn, read_as_of, write};

use crate::authz::{Access, Authorized, Service};
use crate::errors::Result;
use crate::{Gatehouse, RequestContext};

/// What the generator or the `operation!` macro knows about an operation.
pub trait Operation {
    /// The operation's name in the API (`CreateUser`).
    const NAME: &'static str;
    /// The IAM action that authorizes it (`iam:CreateUser`).
    const ACTION: &'static str;
    const SERVICE: Service;
    /// Whether it may change the store: it then runs in a write transaction.
    const WRITES: bool;
    type Input;
    type Output;
}

/// One call in progress: the service, the request and its transaction.
pub struct Call<'a> {
    pub g: &'a Gatehouse,
    pub cx: &'a RequestContext,
    pub t: &'a mut dyn Txn,
}

impl<'a> Call<'a> {
    /// The caller's account: every name in the request is looked up in it.
    pub fn account(&self) -> &'a str {
        self.cx.caller.account.as_str()
    }
}

/// An operation's behaviour: its authorization rule and its body.
pub trait Handler: Operation {
    /// What `resolve` found, handed on to `run`.
    type Target;

    /// Reads what the call acts on and names the permissions it needs. It runs before
    /// authorization, so it must not change anything, and what it learns reaches the caller
    /// only through `run` (a caller without permission learns nothing).
    fn resolve(call: &mut Call<'_>, input: &Self::Input) -> Result<(Self::Target, Access)>;

    /// The operation itself, once authorized.
    fn run(
        call: &mut Call<'_>,
        proof: Authorized,
        target: Self::Target,
        input: &Self::Input,
    ) -> Result<Self::Output>;
}

impl Gatehouse {
    /// Runs operation `H` for the caller in `cx`: resolve, authorize, run, in one
    /// transaction.
    pub(crate) fn call<H: Handler>(
        &self,
        cx: &RequestContext,
        input: H::Input,
    ) -> std::result::Result<H::Output, ApiError> {
        // What temporary credentials may not call at all, whatever the policies say.
        crate::sessions::session_may_call(cx, H::SERVICE, H::NAME)?;
        let body = |t: &mut dyn Txn| {
            let mut call = Call { g: self, cx, t };
            let (target, access) = H::resolve(&mut call, &input)?;
            let proof = self.authorize(call.t, cx, H::SERVICE, &access)?;
            H::run(&mut call, proof, target, &input)
        };
        let outcome = if H::WRITES {
            write(self.store.as_ref(), body)
        } else {
            // The state authentication read (`seen_at`): one request, one state, and no second
            // change-token read (on PostgreSQL, a round trip).
            read_as_of(self.store.as_ref(), cx.caller.seen_at, body)
        };
        Ok(outcome?)
    }
}

/// Declares an operation: `operation!(CreateUser, Iam, writes, CreateUserRequest => CreateUserResponse);`
macro_rules! operation {
    ($name:ident, $service:ident, $writes:tt, $input:ty => $output:ty) => {
        pub(crate) struct $name;
        impl $crate::pipeline::Operation for $name {
            const NAME: &'static str = stringify!($name);
            const ACTION: &'static str = $crate::pipeline::action_name!($service, $name);
            const SERVICE: $crate::authz::Service = $crate::authz::Service::$service;
            const WRITES: bool = $crate::pipeline::writes!($writes);
            type Input = $input;
            type Output = $output;
        }
    };
}

macro_rules! action_name {
    (Iam, $name:ident) => {
        concat!("iam:", stringify!($name))
    };
    (Sts, $name:ident) => {
        concat!("sts:", stringify!($name))
    };
}

macro_rules! writes {
    (writes) => {
        true
    };
    (reads) => {
        false
    };
}

/// Implements a generated API trait by routing each listed method through
/// [`Gatehouse::call`]; `IMPLEMENTED` is derived from the same list.
macro_rules! operations {
    ($api:path { $($method:ident => $op:ty),* $(,)? }) => {
        impl $api for $crate::Gatehouse {
            type Ctx = $crate::RequestContext;
            const IMPLEMENTED: &'static [&'static str] =
                &[$(<$op as $crate::pipeline::Operation>::NAME),*];
            $(
                #[expect(
                    private_interfaces,
                    reason = "the signature names the generated request and response types through the operation's marker type"
                )]
                fn $method(
                    &self,
                    cx: &$crate::RequestContext,
                    input: <$op as $crate::pipeline::Operation>::Input,
                ) -> Result<<$op as $crate::pipeline::Operation>::Output, gatehouse_protocol::error::ApiError> {
                    self.call::<$op>(cx, input)
                }
            )*
        }
    };
}

pub(crate) use {action_name, operation, operations, writes};
