from uuid import uuid4

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from apps.accounts import forms, services, signups
from apps.core.throttle import by_account, by_client, by_post, throttle
from apps.notifications import selectors as mail
from apps.notifications import services as notifications

QUEUE_DOWN = "We could not take your request just now. Please try again in a minute."

# What the "check your email" page and the sign-up link need of the sign-up
# this browser made: its address, and its key (the link logs in only the
# browser holding it).
SIGNUP_ADDRESS = "signup_address"
SIGNUP_KEY = "signup_key"
MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


@sensitive_post_parameters("password1", "password2")
@throttle(
    "signup",
    by_post("email", "RATE_LIMIT_SIGNUP_PER_ADDRESS"),
    by_client("RATE_LIMIT_SIGNUP_PER_CLIENT"),
)
def signup(request):
    if request.user.is_authenticated:
        return redirect("accounts:welcome")
    form = forms.SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        address = form.cleaned_data["email"]
        try:
            key = signups.user_signup_request(
                address=address,
                password=form.cleaned_data["password1"],
                base_url=request.build_absolute_uri("/"),
            )
        except services.QueueUnavailable:
            form.add_error(None, QUEUE_DOWN)  # The same for every address.
        else:
            if settings.DEMO_MODE:
                # The welcome email, if the address was free; an address
                # with an account gets an email its owner alone reads.
                notifications.mailbox_share(
                    request.session, idempotency_key=f"welcome:{key}"
                )
            request.session[SIGNUP_ADDRESS] = address
            request.session[SIGNUP_KEY] = key
            return redirect("accounts:signup_done")
    return render(request, "accounts/signup.html", {"form": form})


def signup_done(request):
    """The same page whether the address was free or had an account already."""
    return render(
        request,
        "accounts/signup_done.html",
        {"address": request.session.get(SIGNUP_ADDRESS, "")},
    )


@sensitive_post_parameters("password")
def signup_confirm(request, token):
    """The welcome email's link: a page with a button, so that a mail scanner
    opening the link confirms nothing. In the browser that signed up the
    button opens the account and logs in; elsewhere it also asks for the
    password the sign-up chose."""
    session_key = request.session.get(SIGNUP_KEY, "")
    try:
        account, key = signups.user_signup_preview(token=token)
        if request.method == "POST":
            account, opened = signups.user_signup_confirm(
                token=token,
                session_key=session_key,
                password=request.POST.get("password", ""),
            )
            if opened and request.user.pk in (None, account.pk):
                login(request, account, backend=MODEL_BACKEND)
                request.session.pop(SIGNUP_KEY, None)
                return redirect("accounts:welcome")
            return render(request, "accounts/verified.html", {"verified_user": account})
    except signups.SignupLinkInvalid as exc:
        stale = isinstance(exc, signups.SignupLinkStale)
        return render(
            request,
            "accounts/verify_failed.html",
            {"signup": True, "stale": stale},
            status=400,
        )
    except signups.SignupPasswordNeeded:
        wrong_password = bool(request.POST.get("password"))
    else:
        wrong_password = False
    return render(
        request,
        "accounts/signup_confirm.html",
        {
            "account": account,
            "ask_password": session_key != key,
            "wrong_password": wrong_password,
        },
        status=400 if wrong_password else 200,
    )


@login_required
def welcome(request):
    """Right after sign-up: the welcome email's delivery, live."""
    email = mail.welcome_email_for(request.user)
    return render(request, "accounts/welcome.html", {"email": email})


@login_required
def account(request):
    return render(request, "accounts/account.html")


@login_required
@require_POST
@throttle(
    "resend-verification",
    by_account("RATE_LIMIT_RESEND_PER_ACCOUNT"),
    by_client("RATE_LIMIT_RESEND_PER_CLIENT"),
)
def resend_verification(request):
    if request.user.is_verified:
        messages.info(request, "Your address is already verified.")
    else:
        services.user_send_verification(
            user=request.user, base_url=request.build_absolute_uri("/")
        )
        messages.success(
            request, "A new verification link is on its way: watch your mailbox."
        )
    return redirect("accounts:account")


def verify_email(request, token):
    try:
        user = services.user_verify_email(token=token)
    except services.VerificationLinkInvalid:
        return render(request, "accounts/verify_failed.html", status=400)
    return render(request, "accounts/verified.html", {"verified_user": user})


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs):
        # Demo mode publishes its logins (README); nothing else ever shows them.
        demo_logins = services.DEMO_USERS if settings.DEMO_MODE else []
        return {**super().get_context_data(**kwargs), "demo_logins": demo_logins}


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "accounts/password_change.html"
    success_url = reverse_lazy("accounts:account")

    def form_valid(self, form):
        messages.success(self.request, "Your password has been changed.")
        return super().form_valid(form)


@method_decorator(
    throttle(
        "password-reset",
        by_post("email", "RATE_LIMIT_RESET_PER_ADDRESS"),
        by_client("RATE_LIMIT_RESET_PER_CLIENT"),
    ),
    name="dispatch",
)
class PasswordResetView(auth_views.PasswordResetView):
    form_class = forms.PasswordResetForm
    template_name = "accounts/password_reset.html"
    success_url = reverse_lazy("accounts:password_reset_done")

    def form_valid(self, form):
        email_key = f"password_reset:{uuid4()}"
        try:
            services.password_reset_request(
                address=form.cleaned_data["email"],
                email_key=email_key,
                base_url=self.request.build_absolute_uri("/"),
            )
        except services.QueueUnavailable:
            # The same for every address: it depends on the queue alone.
            form.add_error(None, QUEUE_DOWN)
            return self.form_invalid(form)
        if settings.DEMO_MODE:
            # The demo's stand-in for the person's own inbox: this browser
            # may read the email it asked for (if the address has an account,
            # and it is not staff's), and no other.
            notifications.mailbox_share(self.request.session, idempotency_key=email_key)
        return redirect(self.get_success_url())


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "accounts/password_reset_done.html"


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "accounts/password_reset_confirm.html"
    success_url = reverse_lazy("accounts:login")

    def form_valid(self, form):
        messages.success(self.request, "Your password has been reset. Log in with it.")
        return super().form_valid(form)
