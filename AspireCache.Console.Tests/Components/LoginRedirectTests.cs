using AspireCache.Console.Components;
using AspireCache.Console.Components.Pages;
using Bunit;

namespace AspireCache.Console.Tests.Components;

/// <summary>Who is not signed in (or no longer) is sent to the login page, and back afterwards.</summary>
public sealed class LoginRedirectTests : ConsoleComponentContext
{
    [Fact]
    public void An_anonymous_visitor_of_a_page_is_sent_to_the_login_page_with_the_way_back()
    {
        AddAuthorization().SetNotAuthorized();
        NavigateTo("cluster?refresh=1");

        Render<Routes>();

        Assert.EndsWith("/login?returnUrl=%2Fcluster%3Frefresh%3D1", Navigation.Uri, StringComparison.Ordinal);
    }

    [Fact]
    public void A_page_whose_session_ended_sends_the_operator_to_sign_in_again()
    {
        Cluster.Put("config/a", "1");
        EndSession(); // signed out in another tab, expired, or evicted
        NavigateTo("key?key=config%2Fa");

        Render<KeyPage>();

        Assert.EndsWith("/login?returnUrl=%2Fkey%3Fkey%3Dconfig%252Fa", Navigation.Uri, StringComparison.Ordinal);
    }
}
