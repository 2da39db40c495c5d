from django.contrib.auth.models import (
    AbstractBaseUser,
    BaseUserManager,
    PermissionsMixin,
)
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone


class UserManager(BaseUserManager):
    use_in_migrations = True

    @classmethod
    def normalize_email(cls, email):
        # Addresses are compared case-insensitively, so store them in one case.
        return (email or "").strip().lower()

    def create_user(self, email, password=None, **extra_fields):
        if not email:
            raise ValueError("Users must have an email address.")
        user = self.model(email=self.normalize_email(email), **extra_fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email, password=None, **extra_fields):
        extra_fields.update(is_staff=True, is_superuser=True)
        return self.create_user(email, password, **extra_fields)

    def get_by_natural_key(self, email):
        return self.get(email__iexact=email)


class User(AbstractBaseUser, PermissionsMixin):
    """A person who signs in with their email address."""

    email = models.EmailField("email address", unique=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(
        default=False, help_text="Can sign in to the admin and see staff pages."
    )
    date_joined = models.DateTimeField(default=timezone.now)
    email_verified_at = models.DateTimeField(null=True, blank=True)
    # Signed up, but the link in the welcome email not yet confirmed: the
    # account cannot be logged into, and a new sign-up replaces its password
    # (whoever signed up first does not keep the address). Never inferred
    # from is_active: an account staff deactivated stays closed.
    awaiting_confirmation = models.BooleanField(default=False)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = []

    class Meta:
        constraints = [
            models.UniqueConstraint(
                Lower("email"), name="accounts_user_email_ci_unique"
            )
        ]

    def __str__(self):
        return self.email

    @property
    def is_verified(self) -> bool:
        return self.email_verified_at is not None


class SignupRequest(models.Model):
    """A sign-up as the form took it, until a worker has dealt with it.

    Written for every address alike, so that the web request does the same
    work whether the address has an account or not; the worker then creates
    the account, or tells the owner. It carries the password hash to the
    worker (never through the broker) and is deleted once done.
    """

    email = models.EmailField()
    password = models.CharField(max_length=128)  # Hashed.
    # Also kept in the session that signed up (see tokens.make_signup_token).
    key = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    def __str__(self):
        return f"Sign-up for {self.email}"
