from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "apps.accounts"
    verbose_name = "Accounts"

    def seed_demo(self) -> list[str]:
        """The demo logins (`manage.py seed_demo` calls every app's seed_demo)."""
        from apps.accounts import services

        lines = []
        for email, password, is_staff in services.DEMO_USERS:
            services.user_seed_demo(email=email, password=password, is_staff=is_staff)
            lines.append(
                f"Demo {'staff' if is_staff else 'user'}: {email} / {password}"
            )
        return lines
