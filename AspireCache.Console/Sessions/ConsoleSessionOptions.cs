using System.ComponentModel.DataAnnotations;

namespace AspireCache.Console.Sessions;

/// <summary>The server-side session table (section <c>Console:Sessions</c>).</summary>
public sealed class ConsoleSessionOptions
{
    public const string SectionName = "Console:Sessions";

    /// <summary>Sessions kept at most; signing in beyond it ends the session idle the longest.</summary>
    [Range(1, 1_000_000)]
    public int MaxSessions { get; set; } = 1000;

    /// <summary>A session unused this long ends (any page action or request uses it).</summary>
    [Range(typeof(TimeSpan), "00:01:00", "7.00:00:00")]
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromMinutes(30);

    /// <summary>A session ends this long after sign-in, however active.</summary>
    [Range(typeof(TimeSpan), "00:01:00", "30.00:00:00")]
    public TimeSpan AbsoluteLifetime { get; set; } = TimeSpan.FromHours(12);

    /// <summary>How often ended sessions are swept from the table.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan SweepInterval { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>How often an open page checks that its session still exists (sign-out elsewhere, expiry).</summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan RevalidationInterval { get; set; } = TimeSpan.FromSeconds(30);
}
