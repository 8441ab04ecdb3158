using Microsoft.Extensions.Options;

namespace AspireCache.Node.Auth;

/// <summary>
/// Client authentication (section <c>Auth</c>): API keys with scopes and optional key prefixes.
/// <code>
/// "Auth": {
///   "Enabled": true,                                   // optional: on when credentials are configured
///   "Credentials": [
///     { "Name": "admin",  "Key": "…", "Scopes": [ "admin" ] },
///     { "Name": "orders", "Key": "…", "Scopes": [ "read", "write" ], "Prefixes": [ "config/orders/" ] },
///     { "Name": "orders", "Key": "…(next key)", "Scopes": [ "read", "write" ], "Prefixes": [ "config/orders/" ] }
///   ]
/// }
/// </code>
/// Two entries with the same name and different keys are a rotation: both keys are valid, the
/// writes of either are recorded under the one name.
/// </summary>
public sealed class AuthOptions
{
    public const string SectionName = "Auth";

    /// <summary>Shortest key accepted (a generated key is 32 alphanumeric characters: ~190 bits).</summary>
    public const int MinKeyLength = 16;

    /// <summary>Longest key accepted (a longer <c>Authorization</c> value is refused without hashing).</summary>
    public const int MaxKeyLength = 512;

    /// <summary>
    /// <see langword="null"/> (default): enforced exactly when <see cref="Credentials"/> is not empty.
    /// <see langword="true"/>: enforced, and a start without credentials fails. <see langword="false"/>: off,
    /// whatever is configured.
    /// </summary>
    public bool? Enabled { get; set; }

    /// <summary>The credentials every node accepts (the same list on every node).</summary>
    public List<CredentialOptions> Credentials { get; set; } = [];

    /// <summary>Whether requests must carry a credential.</summary>
    public bool IsEnforced => Enabled ?? Credentials.Count > 0;
}

/// <summary>One API key: who it is (<see cref="Name"/>), what it may do (<see cref="Scopes"/>) and on which keys (<see cref="Prefixes"/>).</summary>
public sealed class CredentialOptions
{
    /// <summary>Recorded with every write made with this key (watch events' <c>writer</c>). Letters, digits, <c>. _ - @</c>; ≤ 64.</summary>
    public string Name { get; set; } = "";

    /// <summary>The secret presented as <c>Authorization: Bearer &lt;key&gt;</c>: opaque, at least <see cref="AuthOptions.MinKeyLength"/> characters.</summary>
    public string Key { get; set; } = "";

    /// <summary><c>read</c>, <c>write</c>, <c>admin</c> (admin implies the others); an entry may list several separated by commas.</summary>
    public List<string> Scopes { get; set; } = [];

    /// <summary>Key prefixes the credential may read, write and watch; empty: every key.</summary>
    public List<string> Prefixes { get; set; } = [];
}

/// <summary>Refuses a start with an unusable credential list (the error names the credential, never its key).</summary>
internal sealed class AuthOptionsValidator : IValidateOptions<AuthOptions>
{
    public ValidateOptionsResult Validate(string? name, AuthOptions options)
    {
        var errors = new List<string>();
        if (options.Enabled == true && options.Credentials.Count == 0)
        {
            errors.Add("Auth:Enabled is true but Auth:Credentials is empty: no client could ever be admitted.");
        }

        var keys = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < options.Credentials.Count; i++)
        {
            var credential = options.Credentials[i];
            var label = $"Auth:Credentials:{i} ('{credential.Name}')";
            if (!IsValidName(credential.Name))
            {
                errors.Add($"{label}: Name must be 1–64 letters, digits or '.', '_', '-', '@'.");
            }

            if (credential.Key is null || credential.Key.Length is < AuthOptions.MinKeyLength or > AuthOptions.MaxKeyLength)
            {
                errors.Add($"{label}: Key must be {AuthOptions.MinKeyLength}–{AuthOptions.MaxKeyLength} characters.");
            }
            else if (!IsValidKey(credential.Key))
            {
                errors.Add($"{label}: Key must be printable ASCII without spaces (a Bearer token).");
            }
            else if (!keys.Add(credential.Key))
            {
                errors.Add($"{label}: Key is the same as another credential's (every key names one credential).");
            }

            if (!ScopeParser.TryParse(credential.Scopes, out _, out var badScope))
            {
                errors.Add(badScope is null
                    ? $"{label}: Scopes must name at least one of read, write, admin."
                    : $"{label}: unknown scope '{badScope}' (read, write, admin).");
            }

            foreach (var prefix in credential.Prefixes)
            {
                if (string.IsNullOrEmpty(prefix) || Api.KeyValidator.Validate(prefix, int.MaxValue) is not null)
                {
                    errors.Add($"{label}: every prefix must be a non-empty key prefix without control characters.");
                    break;
                }
            }
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    internal static bool IsValidName(string? name)
    {
        if (string.IsNullOrEmpty(name) || name.Length > 64)
        {
            return false;
        }

        foreach (var c in name)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-' or '@'))
            {
                return false;
            }
        }

        return true;
    }

    private static bool IsValidKey(string key)
    {
        foreach (var c in key)
        {
            if (c is <= ' ' or > '~')
            {
                return false;
            }
        }

        return true;
    }
}
