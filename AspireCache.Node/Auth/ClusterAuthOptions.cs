using Microsoft.Extensions.Options;

namespace AspireCache.Node.Auth;

/// <summary>
/// Node-to-node authentication (keys of section <c>Cluster</c>): every Raft RPC and every call to
/// <c>/cluster/read-index</c> and <c>/cluster/access</c> carries an HMAC-SHA256 signature made with the
/// cluster secret, checked before DotNext (or the endpoint) sees the request. Off when
/// <see cref="Secret"/> is not set.
/// </summary>
public sealed class ClusterAuthOptions
{
    public const string SectionName = "Cluster";

    /// <summary>Shortest secret accepted (a generated one is 32 letters and digits).</summary>
    public const int MinSecretLength = 16;

    /// <summary>The cluster secret: every node signs with it and accepts it. Unset: node-to-node traffic is not authenticated.</summary>
    public string? Secret { get; set; }

    /// <summary>Rotation: a second secret still accepted (never used to sign) while nodes move to <see cref="Secret"/>.</summary>
    public string? PreviousSecret { get; set; }

    /// <summary>How far a signed request's timestamp may be from this node's clock (either way).</summary>
    public TimeSpan AuthMaxClockSkew { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Nonces remembered against replay (each until its timestamp leaves the window). When full, new
    /// requests are refused (503) rather than an unexpired nonce forgotten.
    /// </summary>
    public int AuthNonceCapacity { get; set; } = 500_000;

    public bool IsEnabled => !string.IsNullOrEmpty(Secret);
}

/// <summary>Refuses a start with an unusable cluster secret (the message never contains it).</summary>
internal sealed class ClusterAuthOptionsValidator : IValidateOptions<ClusterAuthOptions>
{
    public ValidateOptionsResult Validate(string? name, ClusterAuthOptions options)
    {
        var errors = new List<string>();
        if (!string.IsNullOrEmpty(options.Secret) && options.Secret.Length < ClusterAuthOptions.MinSecretLength)
        {
            errors.Add($"Cluster:Secret must be at least {ClusterAuthOptions.MinSecretLength} characters.");
        }

        if (!string.IsNullOrEmpty(options.PreviousSecret))
        {
            if (string.IsNullOrEmpty(options.Secret))
            {
                errors.Add("Cluster:PreviousSecret is set but Cluster:Secret is not: set the new secret as Cluster:Secret.");
            }
            else if (options.PreviousSecret.Length < ClusterAuthOptions.MinSecretLength)
            {
                errors.Add($"Cluster:PreviousSecret must be at least {ClusterAuthOptions.MinSecretLength} characters.");
            }
        }

        if (options.AuthMaxClockSkew < TimeSpan.FromSeconds(1) || options.AuthMaxClockSkew > TimeSpan.FromMinutes(10))
        {
            errors.Add("Cluster:AuthMaxClockSkew must be between 1 second and 10 minutes.");
        }

        if (options.AuthNonceCapacity is < 1_000 or > 50_000_000)
        {
            errors.Add("Cluster:AuthNonceCapacity must be between 1,000 and 50,000,000.");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
