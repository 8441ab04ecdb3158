using System.Security.Cryptography;

namespace AspireCache.Testing;

/// <summary>A client credential of a test cluster (<c>Auth:Credentials</c>): a name, a random key, scopes, key prefixes.</summary>
/// <param name="Name">The credential's name (the writer recorded with its changes).</param>
/// <param name="Key">Its API key.</param>
/// <param name="Scopes">read, write, admin.</param>
/// <param name="Prefixes">Key prefixes it is limited to; empty: every key.</param>
public sealed record TestCredential(string Name, string Key, string[] Scopes, string[] Prefixes)
{
    /// <summary>A credential with a fresh random key (32 letters and digits, like the AppHost's).</summary>
    public static TestCredential Create(string name, string[] scopes, params string[] prefixes) =>
        new(name, RandomNumberGenerator.GetString("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", 32), scopes, prefixes);

    /// <summary>The nodes' configuration for these credentials (authentication is on once any is configured).</summary>
    public static Dictionary<string, string?> NodeSettings(params TestCredential[] credentials)
    {
        var settings = new Dictionary<string, string?>();
        for (var i = 0; i < credentials.Length; i++)
        {
            var credential = credentials[i];
            settings[$"Auth:Credentials:{i}:Name"] = credential.Name;
            settings[$"Auth:Credentials:{i}:Key"] = credential.Key;
            for (var s = 0; s < credential.Scopes.Length; s++)
            {
                settings[$"Auth:Credentials:{i}:Scopes:{s}"] = credential.Scopes[s];
            }

            for (var p = 0; p < credential.Prefixes.Length; p++)
            {
                settings[$"Auth:Credentials:{i}:Prefixes:{p}"] = credential.Prefixes[p];
            }
        }

        return settings;
    }

    /// <summary>An HttpClient to <paramref name="baseAddress"/> that sends this credential's key.</summary>
    public HttpClient Client(Uri baseAddress)
    {
        var client = new HttpClient { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(30) };
        client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", Key);
        return client;
    }
}
