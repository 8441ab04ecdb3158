using System.Security.Cryptography;
using System.Text;
using AspireCache.Console.Diagnostics;
using AspireCache.Console.Services;

namespace AspireCache.Console.Sessions;

/// <summary>The outcome of a sign-in: an error to show, or none.</summary>
public sealed record SignInOutcome(bool Succeeded, string? Error)
{
    public static readonly SignInOutcome Success = new(true, null);

    public static SignInOutcome Refused(string error) => new(false, error);
}

/// <summary>
/// Signs an operator in with their own key: the cluster must accept it (<c>/cluster/status</c> with
/// it answers 200), then a session is opened on the server and only its opaque token goes to the
/// browser, in an HttpOnly, SameSite=Strict cookie.
/// </summary>
internal sealed class SignInService(SessionStore sessions, OperatorConnections connections, ConsoleTelemetry telemetry, TimeProvider clock, ILogger<SignInService> logger)
{
    /// <summary>Keys the nodes accept are 16–512 printable ASCII characters.</summary>
    public const int MaxKeyLength = 512;

    public async Task<SignInOutcome> SignInAsync(HttpContext http, string? key, CancellationToken cancellationToken)
    {
        key = key?.Trim();
        if (string.IsNullOrEmpty(key))
        {
            return Refuse("empty", "Enter your API key.");
        }

        if (key.Length > MaxKeyLength || key.Any(c => c is < '!' or > '~'))
        {
            return Refuse("malformed", "That is not an API key: keys are up to 512 printable ASCII characters, without spaces.");
        }

        var cluster = connections.Cluster(key);
        var check = await cluster.CheckCredentialAsync(cancellationToken);
        switch (check)
        {
            case CredentialCheck.Unknown:
                return Refuse("unknown-key", "The cluster does not accept this key.");
            case CredentialCheck.NoReadScope:
                return Refuse("no-read-scope", "The cluster knows this key, but it lacks the read scope the console needs to show anything. Ask for a credential with read (and write to change keys).");
            case CredentialCheck.Unavailable:
                telemetry.SignIn("unavailable");
                ConsoleLog.SignInRefused(logger, "the cluster did not answer");
                return SignInOutcome.Refused("The cluster did not answer. Try again in a moment.");
        }

        var fingerprint = Fingerprint(key);
        var (token, session) = sessions.Open(id => new OperatorSession(id, fingerprint, connections.Client(key), cluster, clock.GetUtcNow()));
        http.Response.Cookies.Append(SessionCookie.Name, token, SessionCookie.Options(http));
        telemetry.SignIn("accepted");
        ConsoleLog.SignedIn(logger, session.Fingerprint, sessions.Count);
        return SignInOutcome.Success;
    }

    /// <summary>Ends the request's session, if any, and drops its cookie.</summary>
    public void SignOut(HttpContext http)
    {
        if (http.Request.Cookies.TryGetValue(SessionCookie.Name, out var token) && !string.IsNullOrEmpty(token))
        {
            sessions.End(SessionStore.IdOf(token));
        }

        http.Response.Cookies.Delete(SessionCookie.Name, SessionCookie.Options(http));
    }

    /// <summary>The first 8 hex digits of the key's SHA-256.</summary>
    public static string Fingerprint(string key) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)))[..8];

    private SignInOutcome Refuse(string reason, string error)
    {
        telemetry.SignIn("refused");
        ConsoleLog.SignInRefused(logger, reason);
        return SignInOutcome.Refused(error);
    }
}
